-- Live events (0015) carry the event itself in their notification, when it fits:
--   jaan_events  '<id> <type> <customer id or -> <the event as clients receive it>'  (or '<id>' alone)
-- so each worker hands a new event to its subscribers straight from its LISTEN connection, without
-- a query that would wait for a pooled connection behind the requests of a busy worker. An event
-- too large for a notification (8000 bytes) still sends its id, and the worker reads it by id.
CREATE OR REPLACE FUNCTION sequence_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    public_id bigint;
    event_type text;
    customer uuid;
    body text;
BEGIN
    -- One key for the whole service (the events stream's order); held until commit.
    PERFORM pg_advisory_xact_lock(7235021415539311615);
    UPDATE events SET id = nextval('events_id_seq'), at = clock_timestamp()
        WHERE id = NEW.id
        RETURNING id, type, user_id,
            '{"id":' || id || ',"type":' || to_json(type)::text
            || ',"at":"' || to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
            || '","data":' || data::text || '}'
        INTO public_id, event_type, customer, body;
    IF public_id IS NULL THEN
        RETURN NULL;
    END IF;
    IF octet_length(body) < 7000 THEN
        PERFORM pg_notify('jaan_events',
            public_id || ' ' || event_type || ' ' || coalesce(customer::text, '-') || ' ' || body);
    ELSE
        PERFORM pg_notify('jaan_events', public_id::text);
    END IF;
    RETURN NULL;
END;
$$;
