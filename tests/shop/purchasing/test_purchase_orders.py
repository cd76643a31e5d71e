"""Purchase orders: created with the server's totals and numbers, listed, read, moved through states."""

from __future__ import annotations

import re

import pytest


async def test_a_purchase_order_is_created_as_a_draft_with_server_totals(purchasing, shop):
    supplier = await purchasing.supplier()
    rice, oil = shop.product(stock=0), shop.product(stock=0)
    po = await purchasing.purchase_order(
        supplier["id"], (rice, 30, "2.50"), (oil, 30, "1.80"), expected_delivery_date="2030-01-15", notes="weekly"
    )
    assert re.fullmatch(r"PO\d{4}-\d{5,}", po["po_number"])
    assert po["status"] == "draft" and po["payment_status"] == "unpaid"
    # 30 × 2.50 + 30 × 1.80 = 129.00, and the default purchase_tax_rate of 5 %: 6.45.
    assert (po["subtotal"], po["tax_amount"], po["shipping_cost"], po["total_amount"]) == (129, 6.45, 0, 135.45)
    assert po["expected_delivery_date"] == "2030-01-15" and po["supplier_name"] == supplier["name"]
    assert [(i["product_id"], i["quantity"], i["line_total"], i["received_quantity"]) for i in po["items"]] == [
        (rice, 30, 75, 0),
        (oil, 30, 54, 0),
    ]
    barcodes = [item["barcode"] for item in po["items"]]
    assert all(re.fullmatch(rf"POI{po['id']}-\d{{4,}}", code) for code in barcodes) and len(set(barcodes)) == 2
    assert purchasing.actions("purchase_order", po["id"]) == ["Purchase Order Created"]


async def test_purchase_order_numbers_come_from_a_sequence_and_never_repeat(purchasing, shop):
    supplier = await purchasing.supplier()
    product = shop.product()
    numbers = [(await purchasing.purchase_order(supplier["id"], (product, 1, "1.00")))["po_number"] for _ in range(3)]
    assert len(set(numbers)) == 3
    digits = [int(number.split("-")[1]) for number in numbers]
    assert digits == sorted(digits)


async def test_purchase_tax_follows_the_purchase_tax_rate_setting(purchasing, shop):
    supplier = await purchasing.supplier()
    product = shop.product()
    # 9.99 × 0.05 (the default) = 0.4995 → 0.50 (half up); total 9.99 + 0.50 + 4.00.
    po = await purchasing.purchase_order(supplier["id"], (product, 3, "3.33"), shipping_cost=4)
    assert (po["subtotal"], po["tax_amount"], po["shipping_cost"], po["total_amount"]) == (9.99, 0.5, 4, 14.49)
    shop.query("UPDATE settings SET value = '0.07' WHERE key = 'purchase_tax_rate'")
    try:
        po = await purchasing.purchase_order(supplier["id"], (product, 3, "3.33"), shipping_cost=4)
    finally:
        shop.query("UPDATE settings SET value = '0.05' WHERE key = 'purchase_tax_rate'")
    # 9.99 × 0.07 = 0.6993 → 0.70.
    assert (po["subtotal"], po["tax_amount"], po["shipping_cost"], po["total_amount"]) == (9.99, 0.7, 4, 14.69)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"items": [{"product_id": 1, "quantity": 1, "unit_price": 1}]}, "supplier_id"),
        ({"supplier_id": 1, "items": []}, "items"),
        ({"supplier_id": 1, "items": [{"product_id": 1, "quantity": 0, "unit_price": 1}]}, "items"),
        ({"supplier_id": 1, "items": [{"product_id": 1, "quantity": 1, "unit_price": 0}]}, "items"),
        ({"supplier_id": 1, "items": [{"product_id": 1, "quantity": 1, "unit_price": "NaN"}]}, "items"),
        ({"supplier_id": 1, "items": [{"product_id": 1, "quantity": 1.5, "unit_price": 1}]}, "items"),
        ({"supplier_id": 1, "expected_delivery_date": "2030-02-30", "items": []}, "expected_delivery_date"),
    ],
)
async def test_invalid_purchase_orders_are_400(purchasing, body, field):
    response = await purchasing.client.post("/api/admin/purchase-orders", json=body, headers=purchasing.admin.headers)
    assert response.status == 400
    assert field in (await response.json())["details"]


async def test_unknown_supplier_or_product_and_repeated_products_are_400(purchasing, shop):
    supplier = await purchasing.supplier()
    product = shop.product()
    cases = [
        ({"supplier_id": 2**31 - 1, "items": [{"product_id": product, "quantity": 1, "unit_price": 1}]}, "supplier_id"),
        (
            {"supplier_id": supplier["id"], "items": [{"product_id": 2**31 - 1, "quantity": 1, "unit_price": 1}]},
            "items",
        ),
        (
            {"supplier_id": supplier["id"], "items": [{"product_id": product, "quantity": 1, "unit_price": 1}] * 2},
            "items",
        ),
    ]
    for body, field in cases:
        response = await purchasing.client.post(
            "/api/admin/purchase-orders", json=body, headers=purchasing.admin.headers
        )
        assert response.status == 400 and field in (await response.json())["details"]


async def test_the_list_is_a_bare_array_newest_first_with_paging_beside_it(purchasing, shop):
    supplier = await purchasing.supplier()
    product = shop.product()
    first = await purchasing.purchase_order(supplier["id"], (product, 4, "1.00"))
    second = await purchasing.purchase_order(supplier["id"], (product, 2, "1.00"))
    assert (await purchasing.move(second["id"], "pending")).status == 200
    headers = purchasing.admin.headers
    response = await purchasing.client.get(f"/api/admin/purchase-orders?supplier_id={supplier['id']}", headers=headers)
    assert response.status == 200
    body = await response.json()
    assert [po["id"] for po in body["data"]] == [second["id"], first["id"]]
    assert body["total"] == 2 and body["page"] == 1 and body["per_page"] == 20 and body["total_pages"] == 1
    assert body["data"][0]["item_count"] == 1 and body["data"][0]["received_count"] == 0
    assert body["data"][0]["supplier_name"] == supplier["name"]
    pending = await (
        await purchasing.client.get(
            f"/api/admin/purchase-orders?supplier_id={supplier['id']}&status=pending", headers=headers
        )
    ).json()
    assert [po["id"] for po in pending["data"]] == [second["id"]]
    every = await (
        await purchasing.client.get(
            f"/api/admin/purchase-orders?supplier_id={supplier['id']}&status=all", headers=headers
        )
    ).json()
    assert every["total"] == 2  # the original's status=all returned nothing (D-29)
    for bad in ("status=open", "per_page=101", "page=0", "supplier_id=x"):
        assert (await purchasing.client.get(f"/api/admin/purchase-orders?{bad}", headers=headers)).status == 400


async def test_one_purchase_order_and_unknown_ones(purchasing, shop):
    supplier = await purchasing.supplier()
    po = await purchasing.purchase_order(supplier["id"], (shop.product(), 1, "9.99"))
    headers = purchasing.admin.headers
    response = await purchasing.client.get(f"/api/admin/purchase-orders/{po['id']}", headers=headers)
    assert response.status == 200 and (await response.json())["data"]["items"][0]["sku"].startswith("SKU-")
    for missing in (2**31 - 1, "abc", "-1", 2**40):
        assert (await purchasing.client.get(f"/api/admin/purchase-orders/{missing}", headers=headers)).status == 404


async def test_the_lifecycle_goes_draft_pending_confirmed_shipped(purchasing, shop):
    supplier = await purchasing.supplier()
    po = await purchasing.purchase_order(supplier["id"], (shop.product(), 1, "1.00"))
    for status in ("pending", "confirmed", "shipped"):
        response = await purchasing.move(po["id"], status)
        assert response.status == 200 and (await response.json())["data"]["status"] == status
    response = await purchasing.move(po["id"], "shipped", payment_status="partial")
    assert response.status == 200 and (await response.json())["data"]["payment_status"] == "partial"
    assert (
        purchasing.actions("purchase_order", po["id"])
        == ["Purchase Order Created"] + ["Purchase Order Status Changed"] * 4
    )


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([], "confirmed"),
        ([], "shipped"),
        ([], "delivered"),
        ([], "draft"),
        (["pending"], "draft"),
        (["pending"], "shipped"),
        (["pending", "confirmed"], "pending"),
        (["pending", "confirmed", "shipped"], "confirmed"),
        (["pending", "confirmed", "shipped"], "delivered"),  # nothing received yet
        (["cancelled"], "pending"),
        (["cancelled"], "cancelled"),
    ],
)
async def test_illegal_transitions_are_409_and_change_nothing(purchasing, shop, path, illegal):
    supplier = await purchasing.supplier()
    po = await purchasing.purchase_order(supplier["id"], (shop.product(), 1, "1.00"))
    for step in path:
        assert (await purchasing.move(po["id"], step)).status == 200
    assert (await purchasing.move(po["id"], illegal)).status == 409
    expected = path[-1] if path else "draft"
    assert shop.value("SELECT status FROM purchase_orders WHERE id = %s", (po["id"],)) == expected


async def test_cancelling_an_open_purchase_order(purchasing, shop):
    supplier = await purchasing.supplier()
    po = await purchasing.purchase_order(supplier["id"], (shop.product(), 1, "1.00"))
    assert (await purchasing.move(po["id"], "pending")).status == 200
    response = await purchasing.move(po["id"], "cancelled")
    assert response.status == 200 and (await response.json())["data"]["status"] == "cancelled"


async def test_status_changes_validate_their_body_and_the_id(purchasing, shop):
    supplier = await purchasing.supplier()
    po = await purchasing.purchase_order(supplier["id"], (shop.product(), 1, "1.00"))
    headers = purchasing.admin.headers
    for body in ({}, {"status": "lost"}, {"status": "pending", "payment_status": "owed"}):
        response = await purchasing.client.put(
            f"/api/admin/purchase-orders/{po['id']}/status", json=body, headers=headers
        )
        assert response.status == 400
    assert (await purchasing.move(2**31 - 1, "pending")).status == 404
