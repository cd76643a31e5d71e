-- Stock notifications carry the new count and status (issue 14), so each worker overlays them on
-- the list pages and product pages it keeps instead of dropping and rebuilding every page that
-- shows the product:
--   jaan_stock  '<product id>:<1 if it crossed zero>:<stock_quantity>:<stock_status>:<clock>'
-- The first two fields are as before (0008). Two transactions that change one product's stock
-- take its row lock in turn, so they commit, and their notifications arrive, in the order of
-- their counts: the last notification heard carries the latest count. The clock (microseconds)
-- only keeps each payload unique: PostgreSQL delivers one of identical payloads sent in one
-- transaction, so 10 -> 9 -> 10 -> 9 would otherwise end at 10 for the listeners.
CREATE OR REPLACE FUNCTION notify_stock_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(
        'jaan_stock',
        NEW.id || ':' || CASE WHEN (OLD.stock_quantity <= 0) <> (NEW.stock_quantity <= 0) THEN 1 ELSE 0 END
            || ':' || NEW.stock_quantity || ':' || NEW.stock_status
            || ':' || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint
    );
    RETURN NULL;
END;
$$;
