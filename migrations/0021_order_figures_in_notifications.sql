-- The admin's headline figures (GET /api/admin/stats) are kept current in each worker from the
-- orders' own changes (issue 14) instead of recomputed over every order after each one:
--   jaan_order_figures  '<xid>:<old status>:<old total>:<new status>:<new total>:<order id>:<clock>'
--                       (a side empty when the row was inserted or deleted), or '*' when orders
--                       were truncated; the order id and the clock (microseconds) keep each payload
--                       unique, as PostgreSQL delivers one of identical payloads of a transaction
-- The xid (the writing transaction's id) tells a worker whether the snapshot its figures were
-- read in already counts the change (pg_current_snapshot() read with them), so no change is
-- counted twice or missed, whatever the order of the read and the notification.
CREATE FUNCTION notify_order_figures() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'TRUNCATE' THEN
        PERFORM pg_notify('jaan_order_figures', '*');
        RETURN NULL;
    END IF;
    PERFORM pg_notify(
        'jaan_order_figures',
        pg_current_xact_id() || ':'
            || CASE WHEN TG_OP = 'INSERT' THEN ':' ELSE OLD.status || ':' || OLD.total END || ':'
            || CASE WHEN TG_OP = 'DELETE' THEN ':' ELSE NEW.status || ':' || NEW.total END || ':'
            || CASE WHEN TG_OP = 'DELETE' THEN OLD.id ELSE NEW.id END || ':'
            || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
    );
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_notify_figures
    AFTER INSERT OR DELETE ON orders
    FOR EACH ROW EXECUTE FUNCTION notify_order_figures();
CREATE TRIGGER orders_notify_figures_changed
    AFTER UPDATE OF status, total ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.total IS DISTINCT FROM NEW.total)
    EXECUTE FUNCTION notify_order_figures();
CREATE TRIGGER orders_notify_figures_truncated
    AFTER TRUNCATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION notify_order_figures();
