-- Orders and invoices (spec §2.5, §5.1–§5.3, §5.7) with §6's fixes: numbers from sequences, so they
-- never collide under concurrency (D-15) and an order's number is its id (the admin client derives
-- one from the other); barcodes that widen instead of truncating; quantities > 0 and money that is
-- never NaN or negative (D-20); one invoice per order (D-17); invoice balance always total − paid and
-- no overpayment (D-31); idempotency keys so a retried checkout never doubles an order.

CREATE TYPE order_status AS ENUM ('pending', 'processing', 'shipped', 'delivered', 'cancelled');
CREATE TYPE invoice_status AS ENUM ('draft', 'sent', 'paid', 'overdue', 'cancelled');

-- 'ORD-00042' style: at least five digits, more when the number outgrows them (never truncated).
CREATE FUNCTION padded(n bigint, width integer) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN length(n::text) >= width THEN n::text ELSE lpad(n::text, width, '0') END
$$;

CREATE TABLE orders (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_number text NOT NULL GENERATED ALWAYS AS ('ORD-' || padded(id, 5)) STORED UNIQUE,
    -- Unique because the id is: no index of its own (every checkout would pay for it).
    barcode text NOT NULL GENERATED ALWAYS AS ('ORD' || padded(id, 8)) STORED,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    customer_name text NOT NULL CHECK (length(btrim(customer_name)) > 0),
    customer_email text NOT NULL,
    customer_phone text,
    status order_status NOT NULL DEFAULT 'pending',
    shipping_street text NOT NULL,
    shipping_street2 text,
    shipping_city text NOT NULL,
    shipping_state text NOT NULL,
    shipping_zip text NOT NULL,
    shipping_country text NOT NULL DEFAULT 'United States',
    billing_street text,
    billing_street2 text,
    billing_city text,
    billing_state text,
    billing_zip text,
    billing_country text,
    subtotal numeric(12, 2) NOT NULL CHECK (subtotal <> 'NaN' AND subtotal >= 0),
    tax numeric(12, 2) NOT NULL DEFAULT 0 CHECK (tax <> 'NaN' AND tax >= 0),
    shipping_fee numeric(12, 2) NOT NULL DEFAULT 0 CHECK (shipping_fee <> 'NaN' AND shipping_fee >= 0),
    total numeric(12, 2) NOT NULL CHECK (total <> 'NaN' AND total >= 0),
    payment_method text NOT NULL,
    notes text,
    tracking_number text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT orders_total_adds_up CHECK (total = subtotal + tax + shipping_fee)
);

CREATE INDEX orders_created_at_idx ON orders (created_at DESC, id DESC);
CREATE INDEX orders_user_idx ON orders (user_id, created_at DESC, id DESC);
CREATE INDEX orders_status_idx ON orders (status, created_at DESC, id DESC);

CREATE TRIGGER orders_set_updated_at
    BEFORE UPDATE ON orders
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE order_items (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    order_id integer NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- Products are archived, never deleted, so an order line always finds its product.
    product_id integer REFERENCES products (id) ON DELETE RESTRICT,
    product_name text NOT NULL,
    product_sku text NOT NULL,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL CHECK (unit_price <> 'NaN' AND unit_price >= 0),
    total_price numeric(12, 2) NOT NULL CHECK (total_price <> 'NaN' AND total_price >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_items_total_adds_up CHECK (total_price = unit_price * quantity)
);

CREATE INDEX order_items_order_idx ON order_items (order_id);
CREATE INDEX order_items_product_idx ON order_items (product_id);

ALTER TABLE inventory_adjustments
    ADD CONSTRAINT inventory_adjustments_order_fkey
    FOREIGN KEY (reference_order_id) REFERENCES orders (id) ON DELETE SET NULL;
CREATE INDEX inventory_adjustments_order_idx ON inventory_adjustments (reference_order_id)
    WHERE reference_order_id IS NOT NULL;

CREATE SEQUENCE invoice_number_seq;

CREATE TABLE invoices (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- 'INV-<year of issue>-<sequence>': set on insert from invoice_number_seq (see shop.invoices).
    invoice_number text NOT NULL UNIQUE CHECK (invoice_number ~ '^INV-[0-9]{4}-[0-9]{5,}$'),
    barcode text NOT NULL GENERATED ALWAYS AS ('INV' || replace(substr(invoice_number, 5), '-', '')) STORED UNIQUE,
    -- One invoice per order at most (NULLs, for manual invoices, do not collide).
    order_id integer UNIQUE REFERENCES orders (id) ON DELETE SET NULL,
    user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    customer_name text NOT NULL CHECK (length(btrim(customer_name)) > 0),
    customer_email text NOT NULL,
    customer_phone text,
    billing_street text NOT NULL,
    billing_street2 text,
    billing_city text NOT NULL,
    billing_state text NOT NULL,
    billing_zip text NOT NULL,
    billing_country text NOT NULL DEFAULT 'United States',
    subtotal numeric(12, 2) NOT NULL CHECK (subtotal <> 'NaN' AND subtotal >= 0),
    tax numeric(12, 2) NOT NULL DEFAULT 0 CHECK (tax <> 'NaN' AND tax >= 0),
    shipping_fee numeric(12, 2) NOT NULL DEFAULT 0 CHECK (shipping_fee <> 'NaN' AND shipping_fee >= 0),
    total numeric(12, 2) NOT NULL CHECK (total <> 'NaN' AND total >= 0),
    amount_paid numeric(12, 2) NOT NULL DEFAULT 0 CHECK (amount_paid <> 'NaN' AND amount_paid >= 0),
    balance_due numeric(12, 2) NOT NULL GENERATED ALWAYS AS (total - amount_paid) STORED,
    status invoice_status NOT NULL DEFAULT 'draft',
    issue_date date NOT NULL,
    due_date date NOT NULL,
    paid_date date,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoices_total_adds_up CHECK (total = subtotal + tax + shipping_fee),
    CONSTRAINT invoices_no_overpayment CHECK (amount_paid <= total),
    CONSTRAINT invoices_due_after_issue CHECK (due_date >= issue_date),
    CONSTRAINT invoices_paid_means_settled CHECK (status <> 'paid' OR amount_paid = total)
);

CREATE INDEX invoices_created_at_idx ON invoices (created_at DESC, id DESC);
CREATE INDEX invoices_user_idx ON invoices (user_id, created_at DESC, id DESC);
CREATE INDEX invoices_status_idx ON invoices (status, created_at DESC, id DESC);
CREATE INDEX invoices_due_date_idx ON invoices (due_date) WHERE status NOT IN ('paid', 'cancelled');

CREATE TRIGGER invoices_set_updated_at
    BEFORE UPDATE ON invoices
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE invoice_items (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    invoice_id integer NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    product_id integer REFERENCES products (id) ON DELETE RESTRICT,
    description text NOT NULL CHECK (length(btrim(description)) > 0),
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL CHECK (unit_price <> 'NaN' AND unit_price >= 0),
    total_price numeric(12, 2) NOT NULL CHECK (total_price <> 'NaN' AND total_price >= 0),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT invoice_items_total_adds_up CHECK (total_price = unit_price * quantity)
);

CREATE INDEX invoice_items_invoice_idx ON invoice_items (invoice_id);

-- A checkout retried with the same Idempotency-Key replays the first answer (kept 24 hours).
CREATE TABLE idempotency_keys (
    user_id uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    key text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    response_status integer,
    response_body jsonb,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, key)
);

CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
