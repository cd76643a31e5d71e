-- Live events (issue 15): what admins and customers see happen, written by triggers in the
-- transaction of the change itself, so no write path (a route, bin/seed, psql) can forget one and
-- an event exists exactly when its change committed.
--
-- Ids are the stream's order and clients resume from them (Last-Event-ID, ?since=), so a
-- committed id must never appear below one a reader has already seen. A sequence alone does not
-- give that: two transactions take ids 10 and 11 and may commit 11 first. So a row is written
-- with a draft (negative) id, and a deferred trigger gives it its public id just before commit,
-- under a transaction-level advisory lock held until the commit is visible: ids then increase in
-- commit order. The lock spans only the commit of transactions that wrote events.
--   jaan_events  '<event id>' once the event is committed (each worker reads the new rows once)

CREATE SEQUENCE events_draft_seq;

CREATE TABLE events (
    id bigint PRIMARY KEY DEFAULT -nextval('events_draft_seq'),
    type text NOT NULL CHECK (type ~ '^[a-z_]+\.[a-z_]+$'),
    at timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- The customer who may see this event on /api/events (their own order or invoice); NULL: admins only.
    -- No foreign key: an event is history, pruned after the retention period like the rest.
    user_id uuid,
    data jsonb NOT NULL
);

CREATE SEQUENCE events_id_seq OWNED BY events.id;

CREATE INDEX events_user_idx ON events (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX events_at_idx ON events (at);

CREATE FUNCTION emit_event(event_type text, customer uuid, payload jsonb) RETURNS void
LANGUAGE sql AS $$
    INSERT INTO events (type, user_id, data) VALUES (event_type, customer, payload)
$$;

CREATE FUNCTION sequence_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    public_id bigint;
BEGIN
    -- One key for the whole service (the events stream's order); held until commit.
    PERFORM pg_advisory_xact_lock(7235021415539311615);
    UPDATE events SET id = nextval('events_id_seq'), at = clock_timestamp()
        WHERE id = NEW.id RETURNING id INTO public_id;
    IF public_id IS NOT NULL THEN
        PERFORM pg_notify('jaan_events', public_id::text);
    END IF;
    RETURN NULL;
END;
$$;

CREATE CONSTRAINT TRIGGER events_sequenced
    AFTER INSERT ON events
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW WHEN (NEW.id < 0)
    EXECUTE FUNCTION sequence_event();

-- Orders: created (admins), status changed (admins and the order's customer).
CREATE FUNCTION order_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM emit_event('order.created', NULL, jsonb_build_object(
            'order_id', NEW.id, 'order_number', NEW.order_number, 'status', NEW.status,
            'customer_id', NEW.user_id, 'customer_name', NEW.customer_name, 'customer_email', NEW.customer_email,
            'subtotal', NEW.subtotal, 'tax', NEW.tax, 'shipping_fee', NEW.shipping_fee, 'total', NEW.total,
            'payment_method', NEW.payment_method));
    ELSE
        PERFORM emit_event('order.status_changed', NEW.user_id, jsonb_build_object(
            'order_id', NEW.id, 'order_number', NEW.order_number, 'from', OLD.status, 'to', NEW.status,
            'tracking_number', NEW.tracking_number, 'customer_name', NEW.customer_name, 'total', NEW.total));
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER orders_event_created
    AFTER INSERT ON orders
    FOR EACH ROW EXECUTE FUNCTION order_event();
CREATE TRIGGER orders_event_status_changed
    AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION order_event();

-- Invoices: issued (created, whatever its first status), paid (admins and the invoice's customer).
CREATE FUNCTION invoice_event() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    facts jsonb := jsonb_build_object(
        'invoice_id', NEW.id, 'invoice_number', NEW.invoice_number, 'order_id', NEW.order_id,
        'status', NEW.status, 'customer_name', NEW.customer_name, 'total', NEW.total,
        'amount_paid', NEW.amount_paid, 'balance_due', NEW.balance_due,
        'issue_date', NEW.issue_date, 'due_date', NEW.due_date, 'paid_date', NEW.paid_date);
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM emit_event('invoice.issued', NEW.user_id, facts);
    END IF;
    IF NEW.status = 'paid' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'paid') THEN
        PERFORM emit_event('invoice.paid', NEW.user_id, facts);
    END IF;
    RETURN NULL;
END;
$$;

CREATE TRIGGER invoices_event_issued
    AFTER INSERT ON invoices
    FOR EACH ROW EXECUTE FUNCTION invoice_event();
CREATE TRIGGER invoices_event_paid
    AFTER UPDATE OF status ON invoices
    FOR EACH ROW WHEN (NEW.status = 'paid' AND OLD.status IS DISTINCT FROM 'paid')
    EXECUTE FUNCTION invoice_event();

-- Stock: a product crossing its low-stock threshold or zero, either way (stock_status is the
-- generated in_stock / low_stock / out_of_stock). The WHEN clause keeps the ordinary sale, which
-- crosses nothing, free of any function call.
CREATE FUNCTION stock_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event(
        CASE NEW.stock_status WHEN 'out_of_stock' THEN 'stock.out' WHEN 'low_stock' THEN 'stock.low'
            ELSE 'stock.restocked' END,
        NULL,
        jsonb_build_object(
            'product_id', NEW.id, 'name', NEW.name, 'sku', NEW.sku, 'stock_quantity', NEW.stock_quantity,
            'low_stock_threshold', NEW.low_stock_threshold, 'from', OLD.stock_status, 'to', NEW.stock_status,
            'supplier_id', NEW.supplier_id, 'reason', NEW.last_adjustment_reason));
    RETURN NULL;
END;
$$;

CREATE TRIGGER products_event_stock
    AFTER UPDATE OF stock_quantity, low_stock_threshold ON products
    FOR EACH ROW WHEN (OLD.stock_status IS DISTINCT FROM NEW.stock_status)
    EXECUTE FUNCTION stock_event();

-- Contact form: a new inquiry.
CREATE FUNCTION contact_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('contact.received', NULL, jsonb_build_object(
        'id', NEW.id, 'full_name', NEW.full_name, 'company_name', NEW.company_name,
        'business_email', NEW.business_email, 'phone_number', NEW.phone_number, 'status', NEW.status));
    RETURN NULL;
END;
$$;

CREATE TRIGGER contact_submissions_event_received
    AFTER INSERT ON contact_submissions
    FOR EACH ROW EXECUTE FUNCTION contact_event();

-- Purchase orders: one event per receipt (one statement raising received quantities), whatever
-- the number of lines; `complete` once every line has all it ordered.
CREATE FUNCTION purchase_order_received_event() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM emit_event('purchase_order.received', NULL, jsonb_build_object(
        'purchase_order_id', po.id, 'po_number', po.po_number, 'supplier_id', po.supplier_id,
        'supplier_name', s.name, 'units_received', r.units, 'items', r.items,
        'complete', NOT EXISTS (SELECT 1 FROM purchase_order_items i
                                WHERE i.purchase_order_id = po.id AND i.received_quantity < i.quantity)))
    FROM (
        SELECT n.purchase_order_id, sum(n.received_quantity - o.received_quantity) AS units,
            jsonb_agg(jsonb_build_object(
                'item_id', n.id, 'product_id', n.product_id, 'received_quantity', n.received_quantity - o.received_quantity,
                'total_received', n.received_quantity, 'quantity', n.quantity) ORDER BY n.id) AS items
        FROM new_rows n JOIN old_rows o ON o.id = n.id
        WHERE n.received_quantity > o.received_quantity
        GROUP BY n.purchase_order_id
    ) r
    JOIN purchase_orders po ON po.id = r.purchase_order_id
    LEFT JOIN suppliers s ON s.id = po.supplier_id
    ORDER BY po.id;
    RETURN NULL;
END;
$$;

CREATE TRIGGER purchase_order_items_event_received
    AFTER UPDATE ON purchase_order_items
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION purchase_order_received_event();
