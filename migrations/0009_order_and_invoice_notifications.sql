-- Change notifications for the admin views the workers cache (the dashboard's headline figures,
-- the order lists): any write to these tables drops the responses built from them.
--   jaan_changed  '<table name>'

CREATE FUNCTION notify_table_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('jaan_changed', TG_TABLE_NAME);
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_notify_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
CREATE TRIGGER invoices_notify_changed
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON invoices
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
CREATE TRIGGER users_notify_table_changed
    AFTER INSERT OR DELETE OR TRUNCATE ON users
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
