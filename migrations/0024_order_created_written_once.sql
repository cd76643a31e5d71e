-- order.created is written once, at commit, with its public id (issue 14). 0015 wrote every event
-- as a draft row with a negative id and gave it its public id in a deferred trigger just before
-- commit: an INSERT and then an UPDATE of the same row, whose id and time change, so both write
-- every index of events and leave a dead row behind. Every checkout paid for it. The order's own
-- deferred trigger now writes the event once, at that same moment, under the same advisory lock
-- and from the same sequence, so ids still increase in commit order, and the deferred triggers of
-- a transaction still fire in the order their changes happened: an order's stock events
-- (stock.low/out, still drafts) follow its order.created with the next ids. The notification is
-- 0016's: '<id> order.created - <the event as clients receive it>' (or '<id>' alone).
-- Its data are the inserted row's, as before; its time is the commit's, as 0015's UPDATE set it.

CREATE FUNCTION order_created_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    public_id bigint;
    body text;
BEGIN
    PERFORM pg_advisory_xact_lock(7235021415539311615);
    INSERT INTO events (id, type, at, user_id, data)
    VALUES (nextval('events_id_seq'), 'order.created', clock_timestamp(), NULL, jsonb_build_object(
        'order_id', NEW.id, 'order_number', NEW.order_number, 'status', NEW.status,
        'customer_id', NEW.user_id, 'customer_name', NEW.customer_name, 'customer_email', NEW.customer_email,
        'subtotal', NEW.subtotal, 'tax', NEW.tax, 'shipping_fee', NEW.shipping_fee, 'total', NEW.total,
        'payment_method', NEW.payment_method))
    RETURNING id, '{"id":' || id || ',"type":"order.created","at":"'
        || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') || '","data":' || data::text || '}'
    INTO public_id, body;
    IF octet_length(body) < 7000 THEN
        PERFORM pg_notify('jaan_events', public_id || ' order.created - ' || body);
    ELSE
        PERFORM pg_notify('jaan_events', public_id::text);
    END IF;
    RETURN NULL;
END;
$$;
DROP TRIGGER orders_event_created ON orders;
CREATE CONSTRAINT TRIGGER orders_event_created
    AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION order_created_event();
