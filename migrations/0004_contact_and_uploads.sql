-- The public contact form's inbox (spec §2.6, §5.10), with the length limits the original only
-- documented, and a record of uploaded files so orphans can be found and removed (D-07).

CREATE TABLE contact_submissions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    full_name text NOT NULL CHECK (length(full_name) BETWEEN 2 AND 100),
    company_name text NOT NULL CHECK (length(company_name) BETWEEN 2 AND 100),
    business_email text NOT NULL CHECK (length(business_email) BETWEEN 3 AND 254),
    phone_number text NOT NULL CHECK (length(phone_number) BETWEEN 7 AND 20),
    message text NOT NULL CHECK (length(message) BETWEEN 10 AND 2000),
    status text NOT NULL DEFAULT 'new'
        CHECK (status IN ('new', 'read', 'in-progress', 'resolved', 'archived')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    read_at timestamptz
);

CREATE INDEX contact_submissions_created_at_idx ON contact_submissions (created_at DESC);
CREATE INDEX contact_submissions_status_idx ON contact_submissions (status, created_at DESC);

CREATE TRIGGER contact_submissions_set_updated_at
    BEFORE UPDATE ON contact_submissions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE uploads (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    stored_name text NOT NULL UNIQUE CHECK (stored_name ~ '^[0-9a-f]{32}\.(jpg|png|webp|gif)$'),
    original_name text NOT NULL,
    content_type text NOT NULL CHECK (content_type IN ('image/jpeg', 'image/png', 'image/webp', 'image/gif')),
    size_bytes integer NOT NULL CHECK (size_bytes > 0),
    uploaded_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX uploads_created_at_idx ON uploads (created_at);
