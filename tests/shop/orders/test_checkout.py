"""Checkout: server-side prices, stock that never goes below zero, idempotent retries."""

from __future__ import annotations

import asyncio
import re
import uuid

import pytest

from tests.shop.orders.conftest import cart
from tests.web.test_http_metrics import sample


async def test_order_is_priced_by_the_server_and_takes_stock(make_client, customer, shop):
    client = await make_client()
    rice, tea = shop.product(stock=10, price="4.50"), shop.product(stock=5, price="12.25")
    response = await client.post("/api/orders", json=cart((rice, 3), (tea, 2)), headers=customer.headers)
    assert response.status == 200
    data = (await response.json())["data"]
    assert re.fullmatch(r"ORD-\d{5,}", data["order_number"]) and data["order_id"] == int(data["order_number"][4:])
    # 3 × 4.50 + 2 × 12.25 = 38.00; tax 8 % = 3.04; shipping 10.00 under the 100.00 threshold.
    assert (data["subtotal"], data["tax"], data["shipping_fee"], data["total"]) == (38, 3.04, 10, 51.04)
    assert (shop.stock(rice), shop.stock(tea)) == (7, 3)
    assert shop.value("SELECT user_id FROM orders WHERE id = %s", (data["order_id"],)) == str(customer.id)
    ledger = shop.query(
        "SELECT product_id, quantity_change, quantity_before, quantity_after FROM inventory_adjustments"
        " WHERE reference_order_id = %s AND adjustment_type = 'sale' ORDER BY product_id",
        (data["order_id"],),
    )
    assert ledger == sorted([(rice, -3, 10, 7), (tea, -2, 5, 3)])


async def test_free_shipping_from_the_threshold(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=50, price="25.00")
    response = await client.post("/api/orders", json=cart((product, 4)), headers=customer.headers)
    data = (await response.json())["data"]
    assert (data["subtotal"], data["shipping_fee"], data["tax"], data["total"]) == (100, 0, 8, 108)


async def test_checkout_needs_a_session(make_client, shop):
    client = await make_client()
    response = await client.post("/api/orders", json=cart((shop.product(), 1)))
    assert response.status == 401


@pytest.mark.parametrize(
    "broken",
    [
        {"items": []},
        {"items": [{"product_id": 1, "quantity": 0}]},
        {"items": [{"product_id": 1, "quantity": 1.5}]},
        {"items": [{"product_id": 1, "quantity": -3}]},
        {"items": [{"product_id": "one", "quantity": 1}]},
        {"customer_email": "nope"},
        {"shipping_address": {"street": "1 Market St"}},
        {"payment_method": ""},
    ],
)
async def test_invalid_carts_are_400_and_write_nothing(make_client, customer, shop, broken):
    client = await make_client()
    product = shop.product(stock=5)
    body = cart((product, 1), **broken)
    response = await client.post("/api/orders", json=body, headers=customer.headers)
    assert response.status == 400
    assert (await response.json())["details"]
    assert shop.orders_of(customer.id) == 0 and shop.stock(product) == 5


async def test_a_line_for_a_missing_product_leaves_no_trace(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=5)
    response = await client.post("/api/orders", json=cart((product, 1), (2_000_000_000, 1)), headers=customer.headers)
    assert response.status == 400
    assert shop.orders_of(customer.id) == 0 and shop.stock(product) == 5


async def test_insufficient_stock_is_409_naming_the_product_and_writes_nothing(make_client, customer, shop):
    client = await make_client()
    plenty, scarce = shop.product(stock=50), shop.product(stock=1, name=f"Saffron {uuid.uuid4().hex[:6]}")
    response = await client.post("/api/orders", json=cart((plenty, 2), (scarce, 2)), headers=customer.headers)
    assert response.status == 409
    assert "Saffron" in (await response.json())["error"]
    assert (shop.stock(plenty), shop.stock(scarce)) == (50, 1)
    assert shop.orders_of(customer.id) == 0
    assert shop.value("SELECT count(*) FROM inventory_adjustments WHERE product_id = %s", (plenty,)) == 0


async def test_the_order_storm_sells_exactly_the_stock(make_client, make_account, shop):
    """200 concurrent orders of one unit for 50 in stock: 50 orders, 150 refused, stock exactly 0."""
    client = await make_client(pool_max=10, connect_timeout=10)
    product = shop.product(stock=50)
    buyers = [make_account() for _ in range(20)]

    async def order(n: int) -> int:
        response = await client.post("/api/orders", json=cart((product, 1)), headers=buyers[n % 20].headers)
        await response.read()
        return response.status

    statuses = await asyncio.gather(*(order(n) for n in range(200)))
    assert statuses.count(200) == 50 and statuses.count(409) == 150, sorted(set(statuses))
    assert shop.stock(product) == 0
    numbers = shop.query(
        "SELECT o.order_number FROM orders o JOIN order_items i ON i.order_id = o.id WHERE i.product_id = %s",
        (product,),
    )
    assert len(numbers) == 50 == len(set(numbers))
    assert (
        shop.value(
            "SELECT count(*) FROM inventory_adjustments WHERE product_id = %s AND adjustment_type = 'sale'", (product,)
        )
        == 50
    )


async def test_a_retry_with_the_same_idempotency_key_creates_one_order(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=10)
    headers = {**customer.headers, "Idempotency-Key": f"checkout-{uuid.uuid4()}"}
    first = await client.post("/api/orders", json=cart((product, 2)), headers=headers)
    second = await client.post("/api/orders", json=cart((product, 2)), headers=headers)
    assert first.status == second.status == 200
    assert await first.json() == await second.json()
    assert shop.orders_of(customer.id) == 1 and shop.stock(product) == 8


async def test_concurrent_duplicates_make_one_order(make_client, customer, shop):
    client = await make_client(pool_max=6)
    product = shop.product(stock=10)
    headers = {**customer.headers, "Idempotency-Key": f"double-click-{uuid.uuid4()}"}
    responses = await asyncio.gather(
        *(client.post("/api/orders", json=cart((product, 1)), headers=headers) for _ in range(5))
    )
    bodies = [await r.json() for r in responses if r.status == 200]
    assert all(r.status in (200, 409) for r in responses) and bodies
    assert all(body == bodies[0] for body in bodies)
    assert shop.orders_of(customer.id) == 1 and shop.stock(product) == 9


async def test_the_same_key_with_another_body_is_422(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=10)
    headers = {**customer.headers, "Idempotency-Key": f"k-{uuid.uuid4()}"}
    assert (await client.post("/api/orders", json=cart((product, 1)), headers=headers)).status == 200
    response = await client.post("/api/orders", json=cart((product, 3)), headers=headers)
    assert response.status == 422
    assert shop.orders_of(customer.id) == 1


async def test_keys_belong_to_their_user(make_client, make_account, shop):
    client = await make_client()
    product = shop.product(stock=10)
    key = f"shared-{uuid.uuid4()}"
    for account in (make_account(), make_account()):
        response = await client.post(
            "/api/orders", json=cart((product, 1)), headers={**account.headers, "Idempotency-Key": key}
        )
        assert response.status == 200
    assert shop.stock(product) == 8


async def test_a_failed_attempt_can_be_retried_with_its_key(make_client, customer, shop):
    client = await make_client()
    product = shop.product(stock=1)
    headers = {**customer.headers, "Idempotency-Key": f"retry-{uuid.uuid4()}"}
    assert (await client.post("/api/orders", json=cart((product, 2)), headers=headers)).status == 409
    shop.query("UPDATE products SET stock_quantity = 5 WHERE id = %s", (product,))
    assert (await client.post("/api/orders", json=cart((product, 2)), headers=headers)).status == 200


async def test_checkouts_are_counted_placed_refused_and_replayed(make_client, customer, shop):
    client = await make_client()

    async def counts() -> tuple[float, float, float]:
        text = await (await client.get("/metrics")).text()
        return (
            sample(text, "jaan_orders_placed_total"),
            sample(text, "jaan_orders_refused_for_stock_total"),
            sample(text, "jaan_idempotent_replays_total"),
        )

    before = await counts()
    product = shop.product(stock=2)
    key = {"Idempotency-Key": f"metrics-{uuid.uuid4()}", **customer.headers}
    for _ in range(2):  # the first places it, the retry replays it
        assert (await client.post("/api/orders", json=cart((product, 1)), headers=key)).status == 200
    refused = await client.post("/api/orders", json=cart((product, 5)), headers=customer.headers)
    assert refused.status == 409
    after = await counts()
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1]
