-- The store's settings (spec §2.6), fixed per §6: every value declares its type and must parse as
-- it, so a non-numeric tax rate can no longer turn invoice maths into NaN (D-20, D-37); category is
-- never null; is_public replaces the hard-coded list of keys GET /api/settings/public returns.

-- Shared by every table with an updated_at column.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE settings (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL UNIQUE,
    value text NOT NULL,
    value_type text NOT NULL CHECK (value_type IN ('number', 'boolean', 'text')),
    description text,
    category text NOT NULL DEFAULT 'general',
    is_public boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    -- The admin who last changed it. Not yet a foreign key: the users table arrives in a later
    -- migration, which adds REFERENCES users (id) ON DELETE SET NULL.
    updated_by uuid,
    -- Plain decimals only: no NaN, Infinity or exponents.
    CONSTRAINT settings_value_matches_type CHECK (
        (value_type = 'number' AND value ~ '^-?[0-9]+(\.[0-9]+)?$')
        OR (value_type = 'boolean' AND value IN ('true', 'false'))
        OR value_type = 'text'
    )
);

CREATE INDEX settings_category_idx ON settings (category);

CREATE TRIGGER settings_set_updated_at
    BEFORE UPDATE ON settings
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

INSERT INTO settings (key, value, value_type, category, is_public, description) VALUES
    ('tax_rate', '0.08', 'number', 'financial', true,
     'Sales tax rate applied to taxable order lines (0.08 = 8 %)'),
    ('default_shipping_fee', '10.00', 'number', 'financial', true,
     'Shipping fee charged on orders below the free-shipping threshold'),
    ('free_shipping_threshold', '100.00', 'number', 'financial', true,
     'Order subtotal from which shipping is free'),
    ('invoice_payment_terms_days', '30', 'number', 'invoices', false,
     'Days after the invoice date that payment is due'),
    ('store_timezone', 'UTC', 'text', 'general', false,
     'IANA time zone that defines the store''s "today", due dates, invoice years and report buckets'),
    ('allow_negative_stock', 'false', 'boolean', 'inventory', false,
     'Whether orders may take stock below zero');
