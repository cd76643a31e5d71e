-- The catalogue (spec §2.3) with §6's fixes: unique category names referenced by id (D-32); one stock
-- counter per product, changed only through the inventory_adjustments ledger (D-13, D-14); CHECKs
-- that refuse NaN and negatives on money and quantities (D-20: NaN sorts above every number, so
-- `>= 0` alone would let it in); stock status, margin and unit price derived in one place as
-- generated columns (D-26, §5.11); products archived rather than deleted, so the ledger and orders
-- keep their history (D-21); trigram indexes so search is not a table scan (D-40).

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE categories (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL UNIQUE CHECK (length(btrim(name)) > 0),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    description text NOT NULL DEFAULT '',
    image text,
    parent_id integer REFERENCES categories (id) ON DELETE SET NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TRIGGER categories_set_updated_at
    BEFORE UPDATE ON categories
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

INSERT INTO categories (name, slug, image) VALUES
    ('Grains', 'grains', '/placeholder.svg'),
    ('Cooking Oils', 'cooking-oils', '/placeholder.svg'),
    ('Beverages', 'beverages', '/placeholder.svg'),
    ('Sweeteners', 'sweeteners', '/placeholder.svg'),
    ('Spices', 'spices', '/placeholder.svg'),
    ('Dairy', 'dairy', '/placeholder.svg'),
    ('Snacks', 'snacks', '/placeholder.svg'),
    ('Canned Goods', 'canned-goods', '/placeholder.svg');

CREATE TABLE products (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL CHECK (length(btrim(name)) > 0),
    slug text NOT NULL UNIQUE CHECK (slug ~ '^[a-z0-9]+(-[a-z0-9]+)*$'),
    description text NOT NULL DEFAULT '',
    short_description text NOT NULL DEFAULT '',
    price numeric(12, 2) NOT NULL CHECK (price <> 'NaN' AND price >= 0),
    compare_price numeric(12, 2) CHECK (compare_price <> 'NaN' AND compare_price >= 0),
    cost_price numeric(12, 2) CHECK (cost_price <> 'NaN' AND cost_price >= 0),
    sku text NOT NULL UNIQUE CHECK (length(btrim(sku)) > 0),
    barcode text UNIQUE,
    upc_code text CHECK (upc_code ~ '^[0-9]{12}$'),
    category_id integer REFERENCES categories (id) ON DELETE SET NULL,
    images text[] NOT NULL DEFAULT '{}',
    -- The one stock counter. Change it only through the ledger (jaan.shop.inventory.ledger).
    stock_quantity integer NOT NULL DEFAULT 0,
    low_stock_threshold integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    allow_negative_stock boolean NOT NULL DEFAULT false,
    last_adjustment_reason text,
    stock_status text NOT NULL GENERATED ALWAYS AS (
        CASE
            WHEN stock_quantity <= 0 THEN 'out_of_stock'
            WHEN stock_quantity <= low_stock_threshold THEN 'low_stock'
            ELSE 'in_stock'
        END
    ) STORED,
    unit text NOT NULL CHECK (length(btrim(unit)) > 0),
    weight numeric(12, 3) CHECK (weight <> 'NaN' AND weight > 0),
    -- Per-ounce price for weight units, else per display unit; null without a weight.
    price_per_unit numeric(12, 4) GENERATED ALWAYS AS (
        CASE
            WHEN weight IS NULL THEN NULL
            WHEN unit = 'kg' THEN round(price / (weight * 35.274), 4)
            WHEN unit = 'g' THEN round(price / (weight * 0.035274), 4)
            WHEN unit = 'lb' THEN round(price / (weight * 16), 4)
            ELSE round(price / weight, 4)
        END
    ) STORED,
    display_unit text GENERATED ALWAYS AS (
        CASE
            WHEN weight IS NULL THEN NULL
            WHEN unit IN ('kg', 'g', 'lb', 'oz') THEN 'oz'
            ELSE unit
        END
    ) STORED,
    margin_percentage numeric(7, 2) GENERATED ALWAYS AS (
        CASE WHEN cost_price > 0 AND price > 0 THEN round((price - cost_price) / price * 100, 2) END
    ) STORED,
    is_featured boolean NOT NULL DEFAULT false,
    is_new boolean NOT NULL DEFAULT false,
    is_taxable boolean NOT NULL DEFAULT false,
    tax_category text NOT NULL DEFAULT 'grocery'
        CHECK (tax_category IN ('grocery', 'prepared_food', 'beverage', 'alcohol')),
    expiry_date date,
    batch_number varchar(50),
    lot_number varchar(50),
    expiry_alert_days integer NOT NULL DEFAULT 7 CHECK (expiry_alert_days >= 0),
    -- supplier_id becomes a foreign key when the suppliers table arrives.
    supplier_id integer,
    supplier_name text,
    case_size integer CHECK (case_size > 0),
    lead_time_days integer CHECK (lead_time_days >= 0),
    has_variants boolean NOT NULL DEFAULT false,
    -- Set instead of deleting: orders, purchase orders and the ledger keep pointing at the row.
    archived_at timestamptz,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
) WITH (
    -- Room on every page for the new version of a row: a stock change then rewrites the row in
    -- place (a HOT update) instead of adding an entry to each of the indexes below. For the same
    -- reason no index covers stock_quantity, which every sale changes.
    fillfactor = 80
);

CREATE TRIGGER products_set_updated_at
    BEFORE UPDATE ON products
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The storefront only ever lists live products: every index below is partial on that.
CREATE INDEX products_newest_idx ON products (created_at DESC, id DESC) WHERE archived_at IS NULL;
CREATE INDEX products_category_idx ON products (category_id, created_at DESC) WHERE archived_at IS NULL;
CREATE INDEX products_price_idx ON products (price) WHERE archived_at IS NULL;
CREATE INDEX products_name_idx ON products (name) WHERE archived_at IS NULL;
CREATE INDEX products_name_trgm_idx ON products USING gin (name gin_trgm_ops);
CREATE INDEX products_description_trgm_idx ON products USING gin (description gin_trgm_ops);
CREATE INDEX products_supplier_id_idx ON products (supplier_id);

CREATE TABLE product_variants (
    id integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id integer NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    variant_name text NOT NULL CHECK (length(btrim(variant_name)) > 0),
    variant_type text NOT NULL CHECK (length(btrim(variant_type)) > 0),
    sku text UNIQUE,
    upc_code text CHECK (upc_code ~ '^[0-9]{12}$'),
    price numeric(12, 2) NOT NULL CHECK (price <> 'NaN' AND price >= 0),
    compare_price numeric(12, 2) CHECK (compare_price <> 'NaN' AND compare_price >= 0),
    cost_price numeric(12, 2) CHECK (cost_price <> 'NaN' AND cost_price >= 0),
    margin_percentage numeric(7, 2) GENERATED ALWAYS AS (
        CASE WHEN cost_price > 0 AND price > 0 THEN round((price - cost_price) / price * 100, 2) END
    ) STORED,
    -- Catalogue data only: stock is counted per product (the ledger's counter).
    on_hand_quantity integer NOT NULL DEFAULT 0,
    low_stock_threshold integer NOT NULL DEFAULT 10 CHECK (low_stock_threshold >= 0),
    weight numeric(12, 3) CHECK (weight <> 'NaN' AND weight > 0),
    weight_unit text NOT NULL DEFAULT 'kg',
    attributes jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(attributes) = 'object'),
    is_active boolean NOT NULL DEFAULT true,
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX product_variants_product_idx ON product_variants (product_id, sort_order, variant_name);

CREATE TRIGGER product_variants_set_updated_at
    BEFORE UPDATE ON product_variants
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The stock ledger: one row for every change of a product's stock_quantity, written in the same
-- transaction as the change (who, why, before, after).
CREATE TABLE inventory_adjustments (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    product_id integer NOT NULL REFERENCES products (id) ON DELETE RESTRICT,
    variant_id integer REFERENCES product_variants (id) ON DELETE SET NULL,
    adjustment_type text NOT NULL
        CHECK (adjustment_type IN ('restock', 'spoilage', 'damage', 'theft', 'correction', 'sale', 'return')),
    quantity_change integer NOT NULL CHECK (quantity_change <> 0),
    quantity_before integer NOT NULL,
    quantity_after integer NOT NULL,
    reason text,
    notes text,
    adjusted_by_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    adjusted_by_name text,
    -- Foreign keys added by the migrations that create orders and purchase orders.
    reference_order_id integer,
    reference_purchase_order_id integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT inventory_adjustments_arithmetic CHECK (quantity_after = quantity_before + quantity_change)
);

CREATE INDEX inventory_adjustments_product_idx ON inventory_adjustments (product_id, created_at DESC);
CREATE INDEX inventory_adjustments_created_at_idx ON inventory_adjustments (created_at DESC);
