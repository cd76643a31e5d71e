-- A checkout sends fewer notifications (issue 14). Every worker's listener reads every notification,
-- and an order of n lines sent n + 3: one jaan_stock per line (0020), jaan_order_figures (0021),
-- jaan_changed 'orders' (0009) and jaan_events (0016). Now it sends 3:
--
-- * jaan_stock: place_order sends one notification naming every product it sold, each as 0020's
--   '<product id>:<1 if it crossed zero>:<stock_quantity>:<stock_status>:<clock>', separated by
--   spaces (100 lines at most, well under the 8000 bytes of a notification). The per-row trigger
--   stays for every other writer; it skips the rows of a checkout's own stock statement, which says
--   so in a transaction-local setting for that one statement.
-- * jaan_changed 'orders' is no longer sent for inserted orders: each inserted order already sends
--   jaan_order_figures, and a worker hearing that drops the order lists too. Updates, deletes and
--   truncates still send it (the lists show more than the figures carry).

CREATE OR REPLACE FUNCTION place_order(
    buyer uuid,
    buyer_name text,            -- the activity row's and ledger's "who": full name, else email
    buyer_email text,
    client_address text,
    retry_key text,             -- the Idempotency-Key, or NULL
    cart_fingerprint bytea,     -- jaan.shop.orders.idempotency.fingerprint of the request body
    cart jsonb,                 -- the checked cart, billing address already defaulted to shipping
    line_products integer[],    -- the cart's products, each once, in the cart's order
    line_quantities integer[],  -- and how many of each
    OUT answer_status integer,
    OUT answer text,
    OUT replayed boolean
)
LANGUAGE plpgsql
SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
    claimed integer;
    same_request boolean;
    rate numeric;
    flat_fee numeric;
    free_from numeric;
    store_allows_negative boolean;
    missing text;
    line_names text[];
    line_skus text[];
    line_prices numeric[];
    subtotal_due numeric;
    tax_due numeric;
    shipping_due numeric;
    total_due numeric;
    new_order_id integer;
    placed orders%ROWTYPE;
    sold_products integer[];
    stock_heard text;
    refused record;
    ship jsonb := cart -> 'shipping_address';
    bill jsonb := cart -> 'billing_address';
BEGIN
    replayed := false;

    SELECT coalesce(max(s.value) FILTER (WHERE s.key = 'tax_rate'), '0.08')::numeric,
           coalesce(max(s.value) FILTER (WHERE s.key = 'default_shipping_fee'), '10.00')::numeric,
           coalesce(max(s.value) FILTER (WHERE s.key = 'free_shipping_threshold'), '100.00')::numeric,
           coalesce(max(s.value) FILTER (WHERE s.key = 'allow_negative_stock'), 'false') = 'true'
        INTO rate, flat_fee, free_from, store_allows_negative
        FROM settings s
        WHERE s.key IN ('tax_rate', 'default_shipping_fee', 'free_shipping_threshold', 'allow_negative_stock');

    -- Today's prices; a product missing or archived is not for sale (400, naming every such line,
    -- once the key is claimed: a retry of an order placed before the product went still replays).
    SELECT string_agg(w.product_id::text, ', ' ORDER BY w.position) FILTER (WHERE p.id IS NULL),
           array_agg(p.name ORDER BY w.position), array_agg(p.sku ORDER BY w.position),
           array_agg(p.price ORDER BY w.position), sum(round(p.price * w.quantity, 2))
        INTO missing, line_names, line_skus, line_prices, subtotal_due
        FROM unnest(line_products, line_quantities) WITH ORDINALITY AS w(product_id, quantity, position)
        LEFT JOIN products p ON p.id = w.product_id AND p.archived_at IS NULL;

    IF missing IS NULL THEN
        tax_due := round(subtotal_due * rate, 2);
        shipping_due := CASE WHEN subtotal_due >= free_from THEN 0 ELSE round(flat_fee, 2) END;
        total_due := subtotal_due + tax_due + shipping_due;
        new_order_id := nextval('orders_id_seq');
        -- The answer as jaan.web.envelope.dumps writes it (money without trailing zeros); the
        -- order number as orders.order_number is generated (0005).
        answer := '{"success":true,"data":{"id":' || new_order_id || ',"order_id":' || new_order_id
            || ',"order_number":"ORD-' || padded(new_order_id, 5) || '","status":"pending"'
            || ',"subtotal":' || trim_scale(subtotal_due) || ',"tax":' || trim_scale(tax_due)
            || ',"shipping_fee":' || trim_scale(shipping_due) || ',"total":' || trim_scale(total_due) || '}}';
        answer_status := 200;
    END IF;

    -- The claim, with the answer: a duplicate still running holds the key's row, and this waits
    -- for it to end (then replays its answer) or gives up at lock_timeout.
    IF retry_key IS NOT NULL THEN
        BEGIN
            INSERT INTO idempotency_keys (user_id, key, request_hash, response_status, response_body)
                VALUES (buyer, retry_key, cart_fingerprint, answer_status, answer::jsonb)
                ON CONFLICT (user_id, key) DO NOTHING;
            GET DIAGNOSTICS claimed = ROW_COUNT;
        EXCEPTION WHEN lock_not_available THEN
            RAISE EXCEPTION USING ERRCODE = 'JC409',
                MESSAGE = 'A request with this Idempotency-Key is still being processed';
        END;
        IF claimed = 0 THEN
            SELECT k.response_status, k.response_body::text, k.request_hash = cart_fingerprint
                INTO answer_status, answer, same_request
                FROM idempotency_keys k WHERE k.user_id = buyer AND k.key = retry_key;
            IF NOT same_request THEN
                RAISE EXCEPTION USING ERRCODE = 'JC422',
                    MESSAGE = 'This Idempotency-Key was used with a different request body';
            END IF;
            replayed := true;
            RETURN;
        END IF;
    END IF;

    IF missing IS NOT NULL THEN
        RAISE EXCEPTION USING ERRCODE = 'JC400', MESSAGE = 'Invalid input', DETAIL = 'not for sale: product ' || missing;
    END IF;

    INSERT INTO orders (id, user_id, customer_name, customer_email, customer_phone, status,
        shipping_street, shipping_street2, shipping_city, shipping_state, shipping_zip, shipping_country,
        billing_street, billing_street2, billing_city, billing_state, billing_zip, billing_country,
        subtotal, tax, shipping_fee, total, payment_method, notes)
    OVERRIDING SYSTEM VALUE
    VALUES (new_order_id, buyer, cart ->> 'customer_name', cart ->> 'customer_email', cart ->> 'customer_phone', 'pending',
        ship ->> 'street', ship ->> 'street2', ship ->> 'city', ship ->> 'state', ship ->> 'zip', ship ->> 'country',
        bill ->> 'street', bill ->> 'street2', bill ->> 'city', bill ->> 'state', bill ->> 'zip', bill ->> 'country',
        subtotal_due, tax_due, shipping_due, total_due,
        cart ->> 'payment_method', cart ->> 'notes')
    RETURNING * INTO placed;

    INSERT INTO order_items (order_id, product_id, product_name, product_sku, quantity, unit_price, total_price)
    SELECT placed.id, l.product_id, l.product_name, l.product_sku, l.quantity, l.unit_price, l.unit_price * l.quantity
    FROM unnest(line_products, line_names, line_skus, line_quantities, line_prices)
        AS l(product_id, product_name, product_sku, quantity, unit_price);

    INSERT INTO activity_logs (type, action, description, entity_type, entity_id, user_id, user_name, user_email,
        ip_address, severity)
    VALUES ('order', 'Order Created', placed.order_number || ' placed for ' || placed.total, 'order', placed.id::text,
        buyer, buyer_name, buyer_email, client_address, 'info');

    -- The stock last, so the product rows stay locked only for this statement and the commit. They
    -- are locked in id order (no deadlock between two orders for the same products), FOR NO KEY
    -- UPDATE, which the order lines' foreign-key checks (FOR KEY SHARE) do not block; a line whose
    -- product is gone, short of stock or repriced since it was priced above is not sold.
    -- Its rows' stock is announced below, in one notification: the per-row trigger skips them.
    PERFORM set_config('jaan.checkout_notifies_stock', 'on', true);
    WITH wanted AS (
        SELECT * FROM unnest(line_products, line_quantities, line_prices) AS w(product_id, quantity, unit_price)
    ), locked AS (
        SELECT p.id FROM products p JOIN wanted w ON w.product_id = p.id
        WHERE p.archived_at IS NULL ORDER BY p.id FOR NO KEY UPDATE OF p
    ), sold AS (
        UPDATE products p SET stock_quantity = p.stock_quantity - w.quantity, last_adjustment_reason = 'sale'
        FROM wanted w WHERE p.id = w.product_id AND p.id IN (SELECT id FROM locked)
            AND p.price = w.unit_price
            AND (p.stock_quantity >= w.quantity OR p.allow_negative_stock OR store_allows_negative)
        RETURNING p.id, w.quantity, p.stock_quantity AS after, p.stock_status AS status
    ), ledger AS (
        INSERT INTO inventory_adjustments (product_id, adjustment_type, quantity_change, quantity_before,
            quantity_after, reason, adjusted_by_user_id, adjusted_by_name, reference_order_id)
        SELECT sold.id, 'sale', -sold.quantity, sold.after + sold.quantity, sold.after,
            'order ' || placed.order_number, buyer, buyer_name, placed.id
        FROM sold RETURNING product_id
    )
    SELECT (SELECT array_agg(ledger.product_id) FROM ledger),
           (SELECT string_agg(sold.id || ':' || CASE WHEN (sold.after + sold.quantity <= 0) <> (sold.after <= 0)
                                                     THEN 1 ELSE 0 END
                              || ':' || sold.after || ':' || sold.status
                              || ':' || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint, ' ')
                FROM sold WHERE sold.quantity <> 0)
        INTO sold_products, stock_heard;
    PERFORM set_config('jaan.checkout_notifies_stock', '', true);

    IF coalesce(array_length(sold_products, 1), 0) < array_length(line_products, 1) THEN
        -- The first line refused, in product order: say why (nothing written stays).
        SELECT w.product_id, w.quantity, w.unit_price, p.name, p.stock_quantity, p.price, p.archived_at,
               p.id IS NULL AS gone
            INTO refused
            FROM unnest(line_products, line_quantities, line_prices) AS w(product_id, quantity, unit_price)
            LEFT JOIN products p ON p.id = w.product_id
            WHERE w.product_id <> ALL (coalesce(sold_products, '{}'))
            ORDER BY w.product_id LIMIT 1;
        IF refused.gone OR refused.archived_at IS NOT NULL THEN
            RAISE EXCEPTION USING ERRCODE = 'JC400', MESSAGE = 'Invalid input',
                DETAIL = 'product ' || refused.product_id || ' is not for sale';
        END IF;
        IF refused.price <> refused.unit_price THEN
            RAISE EXCEPTION USING ERRCODE = 'JC409',
                MESSAGE = 'The price of ' || refused.name || ' changed while ordering; please review the cart';
        END IF;
        RAISE EXCEPTION USING ERRCODE = 'JC410',
            MESSAGE = 'Insufficient stock for ' || refused.name,
            DETAIL = json_build_object('product_id', refused.product_id, 'name', refused.name,
                                       'available', refused.stock_quantity, 'requested', refused.quantity)::text;
    END IF;

    IF stock_heard IS NOT NULL THEN
        PERFORM pg_notify('jaan_stock', stock_heard);
    END IF;
END;
$$;

DROP TRIGGER products_notify_stock_changed ON products;
CREATE TRIGGER products_notify_stock_changed
    AFTER UPDATE OF stock_quantity ON products
    FOR EACH ROW WHEN (OLD.stock_quantity IS DISTINCT FROM NEW.stock_quantity
                       AND current_setting('jaan.checkout_notifies_stock', true) IS DISTINCT FROM 'on')
    EXECUTE FUNCTION notify_stock_changed();

DROP TRIGGER orders_notify_changed ON orders;
CREATE TRIGGER orders_notify_changed
    AFTER UPDATE OR DELETE OR TRUNCATE ON orders
    FOR EACH STATEMENT EXECUTE FUNCTION notify_table_changed();
