"""The order lifecycle: legal moves only, stock back once on cancel, one invoice when shipped."""

from __future__ import annotations

import asyncio

import pytest

from tests.shop.orders.conftest import cart


async def place(client, account, shop, stock: int = 10, quantity: int = 2) -> tuple[int, int]:
    product = shop.product(stock=stock)
    response = await client.post("/api/orders", json=cart((product, quantity)), headers=account.headers)
    assert response.status == 200
    return (await response.json())["data"]["order_id"], product


async def move(client, admin, order_id: int, status: str, **extra):
    return await client.put(
        f"/api/admin/orders/{order_id}/status", json={"status": status, **extra}, headers=admin.headers
    )


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "shipped"),
        ([], "delivered"),
        ([], "pending"),
        (["processing"], "pending"),
        (["processing"], "delivered"),
        (["processing", "shipped"], "cancelled"),
        (["processing", "shipped"], "processing"),
        (["processing", "shipped", "delivered"], "cancelled"),
        (["cancelled"], "pending"),
        (["cancelled"], "processing"),
    ],
)
async def test_illegal_transitions_are_409_and_change_nothing(make_client, admin, customer, shop, path, illegal):
    client = await make_client()
    order_id, _ = await place(client, customer, shop)
    for step in path:
        assert (await move(client, admin, order_id, step)).status == 200
    response = await move(client, admin, order_id, illegal)
    assert response.status == 409
    expected = path[-1] if path else "pending"
    assert shop.value("SELECT status::text FROM orders WHERE id = %s", (order_id,)) == expected


async def test_cancelling_returns_stock_once_and_twice_is_409(make_client, admin, customer, shop):
    client = await make_client()
    order_id, product = await place(client, customer, shop, stock=10, quantity=3)
    assert shop.stock(product) == 7
    response = await move(client, admin, order_id, "cancelled")
    assert response.status == 200 and (await response.json())["data"]["status"] == "cancelled"
    assert shop.stock(product) == 10
    assert (await move(client, admin, order_id, "cancelled")).status == 409
    assert shop.stock(product) == 10
    assert (
        shop.value(
            "SELECT count(*) FROM inventory_adjustments WHERE reference_order_id = %s AND adjustment_type = 'return'",
            (order_id,),
        )
        == 1
    )


async def test_concurrent_cancellations_return_stock_once(make_client, admin, customer, shop):
    client = await make_client(pool_max=6)
    order_id, product = await place(client, customer, shop, stock=10, quantity=4)
    statuses = sorted(
        [r.status for r in await asyncio.gather(*(move(client, admin, order_id, "cancelled") for _ in range(4)))]
    )
    assert statuses == [200, 409, 409, 409]
    assert shop.stock(product) == 10


async def test_shipping_issues_one_invoice_and_delivering_sends_it(make_client, admin, customer, shop):
    client = await make_client()
    order_id, _ = await place(client, customer, shop)
    await move(client, admin, order_id, "processing")
    shipped = await move(client, admin, order_id, "shipped", tracking_number="1Z999AA10123456784")
    assert (await shipped.json())["data"]["tracking_number"] == "1Z999AA10123456784"
    invoices = shop.query("SELECT status::text, total FROM invoices WHERE order_id = %s", (order_id,))
    order_total = shop.value("SELECT total FROM orders WHERE id = %s", (order_id,))
    assert invoices == [("draft", order_total)]
    delivered = await move(client, admin, order_id, "delivered")
    assert (await delivered.json())["data"]["tracking_number"] == "1Z999AA10123456784"  # kept when omitted
    assert shop.query("SELECT status::text FROM invoices WHERE order_id = %s", (order_id,)) == [("sent",)]
    assert (
        shop.value(
            "SELECT count(*) FROM invoice_items i JOIN invoices v ON v.id = i.invoice_id WHERE v.order_id = %s",
            (order_id,),
        )
        == 1
    )


async def test_status_changes_are_admin_only_and_validated(make_client, admin, customer, shop):
    client = await make_client()
    order_id, _ = await place(client, customer, shop)
    path = f"/api/admin/orders/{order_id}/status"
    assert (await client.put(path, json={"status": "processing"})).status == 401
    assert (await client.put(path, json={"status": "processing"}, headers=customer.headers)).status == 403
    assert (await client.put(path, json={"status": "teleported"}, headers=admin.headers)).status == 400
    assert (
        await client.put("/api/admin/orders/999999999/status", json={"status": "processing"}, headers=admin.headers)
    ).status == 404
    assert (
        await client.put("/api/admin/orders/abc/status", json={"status": "processing"}, headers=admin.headers)
    ).status == 404
    assert (
        shop.value(
            "SELECT count(*) FROM activity_logs WHERE entity_type = 'order' AND entity_id = %s", (str(order_id),)
        )
        == 1
    )  # only "Order Created"
