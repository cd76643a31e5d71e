"""Checkout's one server-side function under races: the last units, a price or an archive landing
while an order is being placed, a duplicate still running; each answered as before, nothing half-written."""

from __future__ import annotations

import asyncio
import uuid

import psycopg2
import pytest

from tests.shop.orders.conftest import cart


async def test_parallel_orders_for_the_last_units_never_oversell(make_client, make_account, shop):
    """Carts naming two scarce products in either order: exactly the stock is sold, no deadlock, no 5xx."""
    client = await make_client(pool_max=10, connect_timeout=10)
    rice, tea = shop.product(stock=7), shop.product(stock=4)
    buyers = [make_account() for _ in range(8)]

    async def order(n: int) -> int:
        lines = [(rice, 1), (tea, 1)] if n % 2 else [(tea, 1), (rice, 1)]
        response = await client.post("/api/orders", json=cart(*lines), headers=buyers[n % 8].headers)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(order(n) for n in range(40)))
    assert statuses.count(200) == 4 and statuses.count(409) == 36, sorted(set(statuses))
    assert (shop.stock(rice), shop.stock(tea)) == (3, 0)
    sold = shop.query(
        "SELECT product_id, count(*), sum(quantity_change) FROM inventory_adjustments"
        " WHERE product_id IN (%s, %s) GROUP BY product_id ORDER BY product_id",
        (rice, tea),
    )
    assert sold == sorted([(rice, 4, -4), (tea, 4, -4)])
    # Every refused order left nothing behind: as many orders as ledger rows per product.
    assert shop.value("SELECT count(*) FROM order_items WHERE product_id = %s", (tea,)) == 4


def _blocked_on_a_lock(shop) -> bool:
    return bool(
        shop.value(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%%place_order(%%'"
        )
    )


async def _while_holding(shop, change: str, params: tuple, request) -> int:
    """Run `change` in a transaction left open until the checkout `request` waits for its lock, then commit."""
    conn = psycopg2.connect(shop.dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(change, params)
        task = asyncio.ensure_future(request())
        async with asyncio.timeout(30):
            while not _blocked_on_a_lock(shop):
                assert not task.done(), "the checkout did not wait for the row"
                await asyncio.sleep(0.05)
        conn.commit()
        return await task
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("change", "status", "says"),
    [
        ("UPDATE products SET price = price + 1 WHERE id = %s", 409, "changed while ordering"),
        ("UPDATE products SET archived_at = now() WHERE id = %s", 400, "is not for sale"),
    ],
)
async def test_a_change_landing_mid_checkout_refuses_it_and_writes_nothing(
    make_client, customer, shop, change, status, says
):
    client = await make_client()
    plenty, contested = shop.product(stock=50), shop.product(stock=5, name=f"Cardamom {uuid.uuid4().hex[:6]}")
    answer: dict = {}

    async def checkout() -> int:
        response = await client.post("/api/orders", json=cart((plenty, 1), (contested, 1)), headers=customer.headers)
        answer.update(await response.json())
        return response.status

    assert await _while_holding(shop, change, (contested,), checkout) == status
    assert says in str(answer)
    assert shop.orders_of(customer.id) == 0 and (shop.stock(plenty), shop.stock(contested)) == (50, 5)
    assert shop.value("SELECT count(*) FROM inventory_adjustments WHERE product_id = %s", (plenty,)) == 0


async def test_a_duplicate_still_running_past_the_lock_timeout_is_409(make_client, customer, shop):
    client = await make_client(lock_timeout=0.5)
    product = shop.product(stock=10)
    key = f"slow-{uuid.uuid4()}"
    conn = psycopg2.connect(shop.dsn)
    try:
        with conn.cursor() as cur:  # the first request's claim, its transaction still open
            cur.execute(
                "INSERT INTO idempotency_keys (user_id, key, request_hash) VALUES (%s, %s, 'x')", (customer.id, key)
            )
        response = await client.post(
            "/api/orders", json=cart((product, 1)), headers={**customer.headers, "Idempotency-Key": key}
        )
        assert response.status == 409
        assert (await response.json())["error"] == "A request with this Idempotency-Key is still being processed"
    finally:
        conn.rollback()
        conn.close()
    assert shop.orders_of(customer.id) == 0 and shop.stock(product) == 10


async def test_a_replay_answers_the_first_body_and_a_changed_body_is_422(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=10, price="2.50")
    headers = {**customer.headers, "Idempotency-Key": f"again-{uuid.uuid4()}"}
    first = await client.post("/api/orders", json=cart((product, 3)), headers=headers)
    shop.query("UPDATE products SET price = 9.99 WHERE id = %s", (product,))  # the replay is not repriced
    again = await client.post("/api/orders", json=cart((product, 3)), headers=headers)
    assert first.status == again.status == 200 and await first.json() == await again.json()
    assert (await again.json())["data"]["subtotal"] == 7.5
    other = await client.post("/api/orders", json=cart((product, 4)), headers=headers)
    assert other.status == 422
    assert (await other.json())["error"] == "This Idempotency-Key was used with a different request body"
    assert shop.orders_of(customer.id) == 1 and shop.stock(product) == 7


async def test_the_order_and_its_activity_row_name_the_buyer(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=10, price="25.00")
    body = cart((product, 2), billing_address=None, notes="ring twice")
    response = await client.post("/api/orders", json=body, headers=customer.headers)
    data = (await response.json())["data"]
    row = shop.query(
        "SELECT billing_street, billing_city, notes, customer_phone FROM orders WHERE id = %s", (data["order_id"],)
    )
    assert row == [("1 Market St", "Springfield", "ring twice", "555-0100")]
    activity = shop.query(
        "SELECT action, description, user_id::text, user_email FROM activity_logs"
        " WHERE entity_type = 'order' AND entity_id = %s",
        (str(data["order_id"]),),
    )
    assert activity == [("Order Created", f"{data['order_number']} placed for 64.00", str(customer.id), customer.email)]


async def test_parallel_checkouts_write_their_events_together_in_commit_order(make_client, make_account, shop):
    """Each order's events are consecutive ids, order.created first, and a stock event follows the very sale
    that crossed the threshold: ids still follow commit order with the checkout in one statement."""
    client = await make_client(pool_max=10, connect_timeout=10)
    product = shop.product(stock=12)
    buyers = [make_account() for _ in range(6)]
    mark = shop.value("SELECT coalesce(max(id), 0) FROM events")

    async def order(n: int) -> int:
        response = await client.post("/api/orders", json=cart((product, 1)), headers=buyers[n % 6].headers)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(order(n) for n in range(30)))
    assert statuses.count(200) == 12 and statuses.count(409) == 18
    mine = shop.query(
        "SELECT id, type, (data->>'order_id')::int, (data->>'stock_quantity')::int FROM events WHERE id > %s"
        " AND ((data->>'product_id')::int = %s OR (type = 'order.created' AND (data->>'order_id')::int IN"
        "  (SELECT order_id FROM order_items WHERE product_id = %s))) ORDER BY id",
        (mark, product, product),
    )
    created = [row for row in mine if row[1] == "order.created"]
    stock = [row for row in mine if row[1].startswith("stock.")]
    # 12 -> 11 crosses nothing, 11 -> 10 reaches the threshold (10), 1 -> 0 sells out.
    assert len(created) == 12 and [row[1] for row in stock] == ["stock.low", "stock.out"], mine
    by_id = {row[0]: row for row in mine}
    for event_id, _, _, quantity in stock:
        before = by_id.get(event_id - 1)
        assert before is not None and before[1] == "order.created", mine
        after_the_sale = shop.value(
            "SELECT quantity_after FROM inventory_adjustments WHERE reference_order_id = %s AND product_id = %s",
            (before[2], product),
        )
        assert after_the_sale == quantity
