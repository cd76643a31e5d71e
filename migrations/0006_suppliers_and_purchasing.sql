-- Suppliers and purchase orders (spec §2.4, §5.4) with §6's fixes: products.supplier_id and the
-- ledger's reference_purchase_order_id become real foreign keys (D-21, D-44); money is never NaN or
-- negative (D-20); PO numbers come from a sequence and widen instead of truncating (D-15); line totals
-- are generated and the order's totals must add up; a line never records more received than ordered
-- unless the store allows over-receipt (checked by the API, which knows the setting).

-- Nothing could create suppliers before this migration, so any supplier_id already stored points
-- nowhere: clear it rather than fail to add the foreign key.
UPDATE products SET supplier_id = NULL WHERE supplier_id IS NOT NULL;
UPDATE inventory_adjustments SET reference_purchase_order_id = NULL WHERE reference_purchase_order_id IS NOT NULL;

CREATE TABLE suppliers (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    contact_person text,
    email text,
    phone text,
    address text,
    payment_terms text,
    default_lead_time_days integer NOT NULL DEFAULT 7 CHECK (default_lead_time_days >= 0),
    is_active boolean NOT NULL DEFAULT true,
    rating integer CHECK (rating BETWEEN 1 AND 5),
    notes text,
    supplier_type text CHECK (supplier_type IN
        ('wholesale_distributor', 'local_vendor', 'brand_manufacturer', 'farm_producer', 'cash_and_carry')),
    is_primary boolean NOT NULL DEFAULT false,
    is_backup boolean NOT NULL DEFAULT false,
    min_order_amount numeric(12, 2) CHECK (min_order_amount <> 'NaN' AND min_order_amount >= 0),
    order_days text,
    delivery_days text,
    cutoff_time time,
    tax_id text,
    requires_1099 boolean NOT NULL DEFAULT false,
    accepts_returns boolean NOT NULL DEFAULT true,
    credit_days integer NOT NULL DEFAULT 30 CHECK (credit_days >= 0),
    restocking_fee_percent numeric(5, 2) NOT NULL DEFAULT 0
        CHECK (restocking_fee_percent <> 'NaN' AND restocking_fee_percent BETWEEN 0 AND 100),
    order_method text CHECK (order_method IN ('email', 'phone', 'portal', 'fax')),
    preferred_contact_time text,
    last_cost numeric(12, 2) CHECK (last_cost <> 'NaN' AND last_cost >= 0),
    previous_cost numeric(12, 2) CHECK (previous_cost <> 'NaN' AND previous_cost >= 0),
    on_time_delivery_percent numeric(5, 2)
        CHECK (on_time_delivery_percent <> 'NaN' AND on_time_delivery_percent BETWEEN 0 AND 100),
    avg_delivery_delay_days integer NOT NULL DEFAULT 0 CHECK (avg_delivery_delay_days >= 0),
    order_fulfillment_percent numeric(5, 2) NOT NULL DEFAULT 100
        CHECK (order_fulfillment_percent <> 'NaN' AND order_fulfillment_percent BETWEEN 0 AND 100),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX suppliers_name_idx ON suppliers (name, id);

CREATE TRIGGER suppliers_set_updated_at
    BEFORE UPDATE ON suppliers
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- RESTRICT: a supplier still named by products or purchase orders cannot disappear (the API answers
-- 409 and suggests deactivating it).
ALTER TABLE products
    ADD CONSTRAINT products_supplier_fkey FOREIGN KEY (supplier_id) REFERENCES suppliers (id) ON DELETE RESTRICT;

CREATE SEQUENCE purchase_order_number_seq;

CREATE TABLE purchase_orders (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- 'PO<year of order>-<sequence, at least five digits>', set on insert (see shop.purchasing).
    po_number text NOT NULL UNIQUE CHECK (po_number ~ '^PO[0-9]{4}-[0-9]{5,}$'),
    supplier_id integer NOT NULL REFERENCES suppliers (id) ON DELETE RESTRICT,
    order_date timestamptz NOT NULL DEFAULT now(),
    expected_delivery_date date,
    actual_delivery_date date,
    status text NOT NULL DEFAULT 'draft'
        CHECK (status IN ('draft', 'pending', 'confirmed', 'shipped', 'delivered', 'cancelled')),
    payment_status text NOT NULL DEFAULT 'unpaid' CHECK (payment_status IN ('unpaid', 'partial', 'paid')),
    subtotal numeric(18, 2) NOT NULL DEFAULT 0 CHECK (subtotal <> 'NaN' AND subtotal >= 0),
    tax_amount numeric(18, 2) NOT NULL DEFAULT 0 CHECK (tax_amount <> 'NaN' AND tax_amount >= 0),
    shipping_cost numeric(12, 2) NOT NULL DEFAULT 0 CHECK (shipping_cost <> 'NaN' AND shipping_cost >= 0),
    total_amount numeric(18, 2) NOT NULL DEFAULT 0 CHECK (total_amount <> 'NaN' AND total_amount >= 0),
    notes text NOT NULL DEFAULT '',
    created_by uuid REFERENCES users (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT purchase_orders_total_adds_up CHECK (total_amount = subtotal + tax_amount + shipping_cost),
    CONSTRAINT purchase_orders_delivered_has_date CHECK (status <> 'delivered' OR actual_delivery_date IS NOT NULL)
);

CREATE INDEX purchase_orders_order_date_idx ON purchase_orders (order_date DESC, id DESC);
CREATE INDEX purchase_orders_supplier_idx ON purchase_orders (supplier_id, order_date DESC, id DESC);
CREATE INDEX purchase_orders_status_idx ON purchase_orders (status, order_date DESC, id DESC);

CREATE TRIGGER purchase_orders_set_updated_at
    BEFORE UPDATE ON purchase_orders
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

CREATE TABLE purchase_order_items (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    purchase_order_id integer NOT NULL REFERENCES purchase_orders (id) ON DELETE CASCADE,
    product_id integer NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    quantity integer NOT NULL CHECK (quantity > 0),
    unit_price numeric(12, 2) NOT NULL CHECK (unit_price <> 'NaN' AND unit_price > 0),
    line_total numeric(18, 2) NOT NULL GENERATED ALWAYS AS (quantity * unit_price) STORED,
    received_quantity integer NOT NULL DEFAULT 0 CHECK (received_quantity >= 0),
    -- 'POI<po id>-<line id, at least four digits>': the separator keeps (1, 12345) and (11, 2345)
    -- apart, and the line id alone is unique, so two lines never share a barcode.
    barcode text NOT NULL GENERATED ALWAYS AS ('POI' || purchase_order_id || '-' || padded(id, 4)) STORED UNIQUE,
    notes text,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX purchase_order_items_order_idx ON purchase_order_items (purchase_order_id, id);
CREATE INDEX purchase_order_items_product_idx ON purchase_order_items (product_id);

CREATE TRIGGER purchase_order_items_set_updated_at
    BEFORE UPDATE ON purchase_order_items
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

ALTER TABLE inventory_adjustments
    ADD CONSTRAINT inventory_adjustments_purchase_order_fkey
    FOREIGN KEY (reference_purchase_order_id) REFERENCES purchase_orders (id) ON DELETE SET NULL;
CREATE INDEX inventory_adjustments_purchase_order_idx ON inventory_adjustments (reference_purchase_order_id)
    WHERE reference_purchase_order_id IS NOT NULL;

INSERT INTO settings (key, value, value_type, category, is_public, description) VALUES
    ('allow_po_over_receipt', 'false', 'boolean', 'purchasing', false,
     'Whether a purchase-order line may receive more units than were ordered'),
    ('purchase_tax_rate', '0', 'number', 'purchasing', false,
     'Tax rate on purchase orders (0: stock bought for resale is exempt from sales tax)');
