"""Receiving: each receipt adds what arrived now to stock, through the ledger, never more than ordered."""

from __future__ import annotations

import asyncio
import datetime as dt


async def confirmed(purchasing, *lines):
    supplier = await purchasing.supplier()
    po = await purchasing.purchase_order(supplier["id"], *lines)
    for status in ("pending", "confirmed"):
        assert (await purchasing.move(po["id"], status)).status == 200
    return po


async def test_two_partial_receipts_add_exactly_the_ordered_quantity(purchasing, shop):
    rice, oil = shop.product(stock=5), shop.product(stock=0)
    po = await confirmed(purchasing, (rice, 10, "2.00"), (oil, 4, "3.00"))
    rice_line, oil_line = (item["id"] for item in po["items"])

    response = await purchasing.receive(po["id"], (rice_line, 6), (oil_line, 4))
    assert response.status == 200
    partial = (await response.json())["data"]
    assert partial["status"] == "confirmed" and partial["actual_delivery_date"] is None  # partial keeps status
    assert [i["received_quantity"] for i in partial["items"]] == [6, 4]
    assert (shop.stock(rice), shop.stock(oil)) == (11, 4)

    response = await purchasing.receive(po["id"], (rice_line, 4))
    assert response.status == 200
    done = (await response.json())["data"]
    assert done["status"] == "delivered" and done["actual_delivery_date"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert (shop.stock(rice), shop.stock(oil)) == (15, 4)  # 5 + 10 ordered, 0 + 4 ordered

    ledger = shop.query(
        "SELECT product_id, adjustment_type, quantity_change, quantity_before, quantity_after, reason"
        " FROM inventory_adjustments WHERE reference_purchase_order_id = %s ORDER BY id",
        (po["id"],),
    )
    reason = f"PO {po['po_number']}"
    assert sorted(ledger) == sorted(
        [
            (rice, "restock", 6, 5, 11, reason),
            (oil, "restock", 4, 0, 4, reason),
            (rice, "restock", 4, 11, 15, reason),
        ]
    )
    assert purchasing.actions("purchase_order", po["id"])[-2:] == ["Purchase Order Received"] * 2
    # Delivered: no more receipts, no cancellation.
    assert (await purchasing.receive(po["id"], (rice_line, 1))).status == 409
    assert (await purchasing.move(po["id"], "cancelled")).status == 409


async def test_a_line_cannot_receive_more_than_ordered(purchasing, shop):
    product = shop.product(stock=0)
    po = await confirmed(purchasing, (product, 5, "1.00"))
    line = po["items"][0]["id"]
    assert (await purchasing.receive(po["id"], (line, 6))).status == 409
    assert (await purchasing.receive(po["id"], (line, 3))).status == 200
    assert (await purchasing.receive(po["id"], (line, 3))).status == 409
    assert shop.stock(product) == 3
    assert shop.value("SELECT received_quantity FROM purchase_order_items WHERE id = %s", (line,)) == 3


async def test_over_receipt_is_accepted_when_the_store_allows_it(purchasing, shop):
    product = shop.product(stock=0)
    po = await confirmed(purchasing, (product, 5, "1.00"))
    shop.query("UPDATE settings SET value = 'true' WHERE key = 'allow_po_over_receipt'")
    try:
        response = await purchasing.receive(po["id"], (po["items"][0]["id"], 7))
    finally:
        shop.query("UPDATE settings SET value = 'false' WHERE key = 'allow_po_over_receipt'")
    assert response.status == 200 and (await response.json())["data"]["status"] == "delivered"
    assert shop.stock(product) == 7


async def test_a_line_of_another_purchase_order_is_refused(purchasing, shop):
    product = shop.product(stock=0)
    po = await confirmed(purchasing, (product, 5, "1.00"))
    other = await confirmed(purchasing, (product, 5, "1.00"))
    response = await purchasing.receive(po["id"], (other["items"][0]["id"], 1))
    assert response.status == 400 and "items" in (await response.json())["details"]
    assert shop.stock(product) == 0


async def test_receiving_needs_an_open_sent_purchase_order(purchasing, shop):
    product = shop.product(stock=0)
    supplier = await purchasing.supplier()
    draft = await purchasing.purchase_order(supplier["id"], (product, 5, "1.00"))
    assert (await purchasing.receive(draft["id"], (draft["items"][0]["id"], 1))).status == 409
    cancelled = await purchasing.purchase_order(supplier["id"], (product, 5, "1.00"))
    assert (await purchasing.move(cancelled["id"], "cancelled")).status == 200
    assert (await purchasing.receive(cancelled["id"], (cancelled["items"][0]["id"], 1))).status == 409
    pending = await purchasing.purchase_order(supplier["id"], (product, 5, "1.00"))
    assert (await purchasing.move(pending["id"], "pending")).status == 200
    assert (await purchasing.receive(pending["id"], (pending["items"][0]["id"], 1))).status == 200
    assert shop.stock(product) == 1
    # Once something was received, the order can no longer be cancelled.
    assert (await purchasing.move(pending["id"], "cancelled")).status == 409
    assert (await purchasing.receive(2**31 - 1, (1, 1))).status == 404


async def test_invalid_receipts_are_400(purchasing, shop):
    po = await confirmed(purchasing, (shop.product(), 5, "1.00"))
    line = po["items"][0]["id"]
    headers, path = purchasing.admin.headers, f"/api/admin/purchase-orders/{po['id']}/receive-items"
    bodies: list[dict] = [
        {},
        {"items": []},
        {"items": [{"item_id": line, "received_quantity": 0}]},
        {"items": [{"item_id": line, "received_quantity": -2}]},
        {"items": [{"item_id": line}]},
        {"items": [{"item_id": line, "received_quantity": 1}, {"item_id": line, "received_quantity": 1}]},
    ]
    for body in bodies:
        assert (await purchasing.client.post(path, json=body, headers=headers)).status == 400


async def test_concurrent_receipts_never_exceed_the_order(make_client, admin, shop):
    from tests.shop.purchasing.conftest import Purchasing

    purchasing = Purchasing(await make_client(pool_max=6), admin, shop)
    product = shop.product(stock=0)
    po = await confirmed(purchasing, (product, 10, "1.00"))
    line = po["items"][0]["id"]
    responses = await asyncio.gather(*(purchasing.receive(po["id"], (line, 4)) for _ in range(4)))
    assert sorted(r.status for r in responses) == [200, 200, 409, 409]
    assert shop.stock(product) == 8
