"""Suppliers (#20–#23): listed with metrics, created, edited field by field, deleted only when unused."""

from __future__ import annotations

import uuid

import pytest


async def test_a_supplier_is_created_with_the_forms_defaults(purchasing):
    supplier = await purchasing.supplier(
        contactPerson="Asha", email="orders@example.com", rating=4, cutoffTime="14:30", paymentTerms="Net 30"
    )
    assert supplier["is_active"] is True and supplier["is_primary"] is False and supplier["accepts_returns"] is True
    assert supplier["default_lead_time_days"] == 7 and supplier["credit_days"] == 30
    assert supplier["restocking_fee_percent"] == 0 and supplier["rating"] == 4
    assert purchasing.actions("supplier", supplier["id"]) == ["Supplier Created"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "name"),
        ({"name": "  "}, "name"),
        ({"name": "X", "rating": 6}, "rating"),
        ({"name": "X", "rating": 4.5}, "rating"),
        ({"name": "X", "cutoffTime": "25:00"}, "cutoffTime"),
        ({"name": "X", "minOrderAmount": -1}, "minOrderAmount"),
        ({"name": "X", "restockingFeePercent": 101}, "restockingFeePercent"),
        ({"name": "X", "supplierType": "pirate"}, "supplierType"),
    ],
)
async def test_invalid_suppliers_are_400(purchasing, body, field):
    response = await purchasing.client.post("/api/admin/suppliers", json=body, headers=purchasing.admin.headers)
    assert response.status == 400 and field in (await response.json())["details"]


async def test_the_old_forms_blanks_and_zeros_mean_none(purchasing):
    supplier = await purchasing.supplier(email="", rating=0, supplierType="", cutoffTime="")
    assert supplier["email"] is None and supplier["rating"] is None and supplier["supplier_type"] is None


async def test_an_edit_changes_only_the_fields_sent(purchasing):
    supplier = await purchasing.supplier(isPrimary=True, rating=5, notes="keep me")
    headers = purchasing.admin.headers
    response = await purchasing.client.put(
        f"/api/admin/suppliers/{supplier['id']}", json={"phone": "555-0101", "rating": 3}, headers=headers
    )
    assert response.status == 200
    edited = (await response.json())["data"]
    assert edited["phone"] == "555-0101" and edited["rating"] == 3
    # The original's full replacement would have deactivated it and cleared is_primary (D-19).
    assert edited["is_active"] is True and edited["is_primary"] is True and edited["notes"] == "keep me"
    assert purchasing.actions("supplier", supplier["id"]) == ["Supplier Created", "Supplier Updated"]
    bad = await purchasing.client.put(f"/api/admin/suppliers/{supplier['id']}", json={"rating": 9}, headers=headers)
    assert bad.status == 400
    for missing in (2**31 - 1, "x"):
        response = await purchasing.client.put(f"/api/admin/suppliers/{missing}", json={"phone": "1"}, headers=headers)
        assert response.status == 404


async def test_the_list_has_metrics_filters_and_optionally_products(purchasing, shop):
    name = f"Metrics {uuid.uuid4().hex[:8]}"
    supplier = await purchasing.supplier(name=name)
    first, second = shop.product(price="10.00"), shop.product(price="20.00")
    shop.query(
        "UPDATE products SET supplier_id = %s, cost_price = 6 WHERE id = ANY(%s)", (supplier["id"], [first, second])
    )
    headers = purchasing.admin.headers
    listed = (await (await purchasing.client.get("/api/admin/suppliers", headers=headers)).json())["data"]
    row = next(s for s in listed if s["id"] == supplier["id"])
    # Average price 15, average cost 6: margin 60 %.
    assert (row["linked_products_count"], row["avg_supplier_cost"], row["avg_margin_percent"]) == (2, 6, 60)
    assert "products" not in row
    with_products = await (await purchasing.client.get("/api/admin/suppliers?include=products", headers=headers)).json()
    row = next(s for s in with_products["data"] if s["id"] == supplier["id"])
    assert {p["id"] for p in row["products"]} == {first, second}
    inactive = await purchasing.supplier()
    await purchasing.client.put(f"/api/admin/suppliers/{inactive['id']}", json={"isActive": False}, headers=headers)
    active_only = (await (await purchasing.client.get("/api/admin/suppliers?active=true", headers=headers)).json())[
        "data"
    ]
    assert supplier["id"] in {s["id"] for s in active_only} and inactive["id"] not in {s["id"] for s in active_only}
    inactive_only = await (await purchasing.client.get("/api/admin/suppliers?active=false", headers=headers)).json()
    assert inactive["id"] in {s["id"] for s in inactive_only["data"]}
    assert (await purchasing.client.get("/api/admin/suppliers?include=orders", headers=headers)).status == 400


async def test_an_unused_supplier_is_deleted(purchasing):
    supplier = await purchasing.supplier()
    headers = purchasing.admin.headers
    response = await purchasing.client.delete(f"/api/admin/suppliers/{supplier['id']}", headers=headers)
    assert response.status == 200 and await response.json() == {"success": True}
    assert purchasing.shop.value("SELECT count(*) FROM suppliers WHERE id = %s", (supplier["id"],)) == 0
    assert purchasing.actions("supplier", supplier["id"]) == ["Supplier Created", "Supplier Deleted"]
    assert (await purchasing.client.delete(f"/api/admin/suppliers/{supplier['id']}", headers=headers)).status == 404


async def test_deleting_a_supplier_that_products_or_purchase_orders_name_is_409(purchasing, shop):
    headers = purchasing.admin.headers
    with_product = await purchasing.supplier()
    product = shop.product()
    shop.query("UPDATE products SET supplier_id = %s WHERE id = %s", (with_product["id"], product))
    with_order = await purchasing.supplier()
    await purchasing.purchase_order(with_order["id"], (shop.product(), 1, "1.00"))
    for supplier in (with_product, with_order):
        response = await purchasing.client.delete(f"/api/admin/suppliers/{supplier['id']}", headers=headers)
        assert response.status == 409 and "deactivate" in (await response.json())["error"]
        assert shop.value("SELECT count(*) FROM suppliers WHERE id = %s", (supplier["id"],)) == 1


async def test_products_can_only_name_suppliers_that_exist(purchasing, shop):
    product = shop.product()
    with pytest.raises(Exception, match="products_supplier_fkey"):
        shop.query("UPDATE products SET supplier_id = %s WHERE id = %s", (2**31 - 1, product))
