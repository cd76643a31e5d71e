-- Commit 54168a1 edited migrations 0002, 0003, 0005, 0007 and 0008 after they had landed. A database
-- migrated before that edit carries their first versions; this brings it to the schema the edited
-- files create, and changes nothing on a database migrated from the edited files. bin/migrate then
-- compares both schemas before it records the edited files' checksums (jaan.db.migration_history).

-- 0002: filtering the activity log by severity walks the newest-first index.
DROP INDEX IF EXISTS activity_logs_severity_idx;

-- 0003: room on every page for HOT stock updates; no index covers stock_quantity or the ledger type.
ALTER TABLE products SET (fillfactor = 80);
DROP INDEX IF EXISTS products_low_stock_idx;
DROP INDEX IF EXISTS inventory_adjustments_type_idx;

-- 0005: the barcode is unique because the id is; its own index only slowed checkout.
ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_barcode_key;

-- 0007: one trigram index over what the activity search reads instead of three.
DROP INDEX IF EXISTS activity_logs_description_trgm_idx;
DROP INDEX IF EXISTS activity_logs_user_name_trgm_idx;
DROP INDEX IF EXISTS activity_logs_user_email_trgm_idx;
CREATE INDEX IF NOT EXISTS activity_logs_search_trgm_idx ON activity_logs
    USING gin ((description || ' ' || coalesce(user_name, '') || ' ' || coalesce(user_email, '')) gin_trgm_ops);

-- 0008: catalogue notifications by column list, stock notifications only when the count moved.
-- Only the first version had notify_product_updated(): a database without it is left alone, so a
-- later migration that widened the column list is never undone.
CREATE OR REPLACE FUNCTION notify_stock_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'jaan_stock',
        NEW.id || ':' || CASE WHEN (OLD.stock_quantity <= 0) <> (NEW.stock_quantity <= 0) THEN 1 ELSE 0 END
    );
    RETURN NULL;
END;
$$;

DO $$
BEGIN
    IF to_regprocedure('notify_product_updated()') IS NULL THEN
        RETURN;
    END IF;
    DROP TRIGGER IF EXISTS products_notify_updated ON products;
    DROP FUNCTION notify_product_updated();
    CREATE TRIGGER products_notify_updated
        AFTER UPDATE OF name, slug, description, short_description, price, compare_price, cost_price, sku,
            barcode, upc_code, category_id, images, low_stock_threshold, allow_negative_stock, unit, weight,
            is_featured, is_new, is_taxable, tax_category, expiry_date, batch_number, lot_number,
            expiry_alert_days, supplier_id, supplier_name, case_size, lead_time_days, has_variants, archived_at,
            created_at
        ON products
        FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();
    DROP TRIGGER IF EXISTS products_notify_stock_changed ON products;
    CREATE TRIGGER products_notify_stock_changed
        AFTER UPDATE OF stock_quantity ON products
        FOR EACH ROW WHEN (OLD.stock_quantity IS DISTINCT FROM NEW.stock_quantity)
        EXECUTE FUNCTION notify_stock_changed();
END;
$$;
