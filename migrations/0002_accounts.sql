-- Accounts (spec §2.2, §3) with §6's fixes: one role per user (D-23), case-insensitive emails stored
-- normalised (D-04), session tokens stored only as a SHA-256 hash (D-03), sign-in failures counted in
-- the database so every worker sees the same count (D-05), and the activity log as one reconciled
-- table (§2.6, D-25).

CREATE TYPE app_role AS ENUM ('admin', 'moderator', 'user');

CREATE TABLE users (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    -- Normalised (trimmed, lower-case) by the API; the CHECK keeps anyone else honest.
    email text NOT NULL CHECK (email = lower(btrim(email)) AND length(email) BETWEEN 3 AND 254),
    password_hash text NOT NULL,
    full_name text NOT NULL DEFAULT '',
    role app_role NOT NULL DEFAULT 'user',
    email_confirmed_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT users_email_key UNIQUE (email)
);

CREATE INDEX users_created_at_idx ON users (created_at DESC);
CREATE INDEX users_role_idx ON users (role) WHERE role <> 'user';

CREATE TRIGGER users_set_updated_at
    BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- What the original kept in profiles beyond users' own columns (no duplicated email/full_name).
CREATE TABLE profiles (
    user_id uuid PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    phone text,
    avatar_url text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER profiles_set_updated_at
    BEFORE UPDATE ON profiles
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE sessions (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- sha256 of the random token; the token itself exists only in the client's hands.
    token_hash bytea NOT NULL UNIQUE CHECK (length(token_hash) = 32),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX sessions_user_id_idx ON sessions (user_id);
CREATE INDEX sessions_expires_at_idx ON sessions (expires_at);

-- Failed sign-ins, per account (email) and per client address, in a sliding window.
CREATE TABLE signin_failures (
    scope text NOT NULL CHECK (scope IN ('email', 'address')),
    key text NOT NULL,
    failures integer NOT NULL DEFAULT 0 CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL DEFAULT now(),
    locked_until timestamptz,
    PRIMARY KEY (scope, key)
);

CREATE INDEX signin_failures_window_idx ON signin_failures (window_started_at);

ALTER TABLE settings
    ADD CONSTRAINT settings_updated_by_fkey FOREIGN KEY (updated_by) REFERENCES users (id) ON DELETE SET NULL;

-- Who did what to which entity, written in the same transaction as the change.
CREATE TABLE activity_logs (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    type text NOT NULL CHECK (type IN ('order', 'user', 'product', 'security', 'system', 'admin')),
    action text NOT NULL CHECK (length(action) BETWEEN 1 AND 255),
    description text NOT NULL,
    entity_type text,
    entity_id text,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    user_name text,
    user_email text,
    ip_address text,
    details jsonb,
    severity text NOT NULL DEFAULT 'info' CHECK (severity IN ('info', 'warning', 'success', 'error')),
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX activity_logs_created_at_idx ON activity_logs (created_at DESC);
-- Filtering by type or severity walks the newest-first index: each checkout writes a row here,
-- and every index on this table is paid for on the hot path.
CREATE INDEX activity_logs_type_idx ON activity_logs (type, created_at DESC);
CREATE INDEX activity_logs_user_id_idx ON activity_logs (user_id);
CREATE INDEX activity_logs_entity_idx ON activity_logs (entity_type, entity_id);
