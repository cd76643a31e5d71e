-- Change notifications for the workers' in-process caches (LISTEN/NOTIFY). The database sends
-- them itself, from triggers, so no writer (a route, bin/seed, psql) can forget to; they are
-- delivered on commit only, so a cache never hears of a change that rolled back.
--   jaan_catalogue  anything the public catalogue shows changed, except stock: drop everything
--   jaan_stock      '<product id>:<1 if it crossed zero>': drop what shows that product (and the
--                   in-stock-only lists when it came into or went out of stock)
--   jaan_sessions   's:<token hash hex>', 'u:<user id>' or '*': drop those cached sessions

CREATE FUNCTION notify_catalogue_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jaan_catalogue', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_stock_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'jaan_stock',
        NEW.id || ':' || CASE WHEN (OLD.stock_quantity <= 0) <> (NEW.stock_quantity <= 0) THEN 1 ELSE 0 END
    );
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_notify_inserted_deleted
    AFTER INSERT OR DELETE OR TRUNCATE ON products
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();
-- Checkout and adjustments set only stock_quantity and last_adjustment_reason: this trigger,
-- named by column, does not fire for them. A column added to products later must be added
-- here, or the storefront would not hear of changes to it.
CREATE TRIGGER products_notify_updated
    AFTER UPDATE OF name, slug, description, short_description, price, compare_price, cost_price, sku,
        barcode, upc_code, category_id, images, low_stock_threshold, allow_negative_stock, unit, weight,
        is_featured, is_new, is_taxable, tax_category, expiry_date, batch_number, lot_number,
        expiry_alert_days, supplier_id, supplier_name, case_size, lead_time_days, has_variants, archived_at,
        created_at
    ON products
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();
-- A stock change names its product (one row each, and only when the count really moved).
CREATE TRIGGER products_notify_stock_changed
    AFTER UPDATE OF stock_quantity ON products
    FOR EACH ROW WHEN (OLD.stock_quantity IS DISTINCT FROM NEW.stock_quantity)
    EXECUTE FUNCTION notify_stock_changed();
CREATE TRIGGER categories_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON categories
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();
CREATE TRIGGER settings_notify
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON settings
    FOR EACH STATEMENT EXECUTE FUNCTION notify_catalogue_changed();

CREATE FUNCTION notify_session_ended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jaan_sessions', 's:' || encode(OLD.token_hash, 'hex'));
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_user_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jaan_sessions', 'u:' || OLD.id);
    RETURN NULL;
END;
$$;

CREATE FUNCTION notify_all_sessions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jaan_sessions', '*');
    RETURN NULL;
END;
$$;

CREATE TRIGGER sessions_notify_deleted
    AFTER DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION notify_session_ended();
CREATE TRIGGER sessions_notify_truncated
    AFTER TRUNCATE ON sessions
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_sessions();
-- A cached session carries its user's email, name and role: any change to those drops it.
CREATE TRIGGER users_notify_changed
    AFTER UPDATE OF email, full_name, role, password_hash OR DELETE ON users
    FOR EACH ROW EXECUTE FUNCTION notify_user_changed();
CREATE TRIGGER users_notify_truncated
    AFTER TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_all_sessions();
