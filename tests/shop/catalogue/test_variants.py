"""Product variants (#14–#17)."""

from __future__ import annotations

import pytest

from tests.shop.catalogue.conftest import token


def variant_body(**overrides):
    body = {"variantName": "5 kg bag", "variantType": "size", "price": 20, "sku": f"VAR-{token()}"}
    body.update(overrides)
    return body


async def add_variant(client, admin, product_id, **overrides):
    response = await client.post(
        f"/api/admin/products/{product_id}/variants", json=variant_body(**overrides), headers=admin.headers
    )
    assert response.status == 200, await response.text()
    return (await response.json())["data"]


async def test_variants_are_created_with_a_cost_and_listed_in_order(make_client, admin, make_product, sql):
    client = await make_client()
    product = make_product()
    large = await add_variant(client, admin, product["id"], variantName="10 kg", costPrice=15, sortOrder=2)
    small = await add_variant(client, admin, product["id"], variantName="1 kg", attributes={"pack": 1})
    assert large["cost_price"] == 15 and large["margin_percentage"] == 25  # the original's D-24 failed here
    assert small["is_active"] is True and small["attributes"] == {"pack": 1} and small["weight_unit"] == "kg"
    response = await client.get(f"/api/admin/products/{product['id']}/variants", headers=admin.headers)
    assert [v["variant_name"] for v in (await response.json())["data"]] == ["1 kg", "10 kg"]
    actions = sql(
        "SELECT action FROM activity_logs WHERE entity_type = 'product_variant' AND entity_id = %s",
        (str(large["id"]),),
    )
    assert [row["action"] for row in actions] == ["Variant Created"]


async def test_a_missing_product_has_no_variants_to_list_or_add(make_client, admin, sql):
    client = await make_client()
    listed = await client.get("/api/admin/products/999999999/variants", headers=admin.headers)
    body = variant_body()
    added = await client.post("/api/admin/products/999999999/variants", json=body, headers=admin.headers)
    assert listed.status == added.status == 404
    assert (await added.json())["error"] == "Product not found"
    assert sql("SELECT id FROM product_variants WHERE sku = %s", (body["sku"],)) == []


async def test_a_duplicate_variant_sku_is_409(make_client, admin, make_product):
    client = await make_client()
    product = make_product()
    first = await add_variant(client, admin, product["id"])
    response = await client.post(
        f"/api/admin/products/{product['id']}/variants",
        json=variant_body(sku=first["sku"]),
        headers=admin.headers,
    )
    assert response.status == 409
    assert (await response.json())["error"] == "A variant with this SKU already exists"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"variantName": ""}, "variantName"),
        ({"variantType": None}, "variantType"),
        ({"price": "NaN"}, "price"),
        ({"costPrice": -2}, "costPrice"),
        ({"attributes": [1, 2]}, "attributes"),
        ({"onHandQuantity": -1}, "onHandQuantity"),
        ({"upcCode": "036000291453"}, "upcCode"),
    ],
)
async def test_invalid_variants_are_400_and_write_nothing(make_client, admin, make_product, sql, overrides, field):
    product = make_product()
    body = variant_body(**overrides)
    response = await (await make_client()).post(
        f"/api/admin/products/{product['id']}/variants", json=body, headers=admin.headers
    )
    assert response.status == 400 and field in (await response.json())["details"]
    assert sql("SELECT id FROM product_variants WHERE product_id = %s", (product["id"],)) == []


async def test_a_variant_edit_keeps_what_was_not_sent(make_client, admin, make_product):
    client = await make_client()
    product = make_product()
    variant = await add_variant(client, admin, product["id"], isActive=False, comparePrice=25, weight=5)
    response = await client.put(f"/api/admin/variants/{variant['id']}", json={"price": 18}, headers=admin.headers)
    assert response.status == 200
    edited = (await response.json())["data"]
    assert edited["price"] == 18 and edited["is_active"] is False and edited["compare_price"] == 25
    assert edited["weight"] == 5 and edited["sku"] == variant["sku"]
    assert edited["updated_at"] >= variant["updated_at"]


async def test_editing_or_deleting_a_missing_variant_is_404(make_client, admin):
    client = await make_client()
    # An id that is not a number matches no route at all (ids are digits, as documented).
    for path, error in (("/api/admin/variants/999999999", "Variant not found"), ("/api/admin/variants/x", "Not found")):
        edit = await client.put(path, json={"price": 1}, headers=admin.headers)
        delete = await client.delete(path, headers=admin.headers)
        assert edit.status == delete.status == 404
        assert (await edit.json())["error"] == error


async def test_deleting_a_variant_keeps_its_ledger_rows(make_client, admin, make_product, sql):
    client = await make_client()
    product = make_product(stock_quantity=0)
    variant = await add_variant(client, admin, product["id"])
    sql(
        "INSERT INTO inventory_adjustments (product_id, variant_id, adjustment_type, quantity_change,"
        " quantity_before, quantity_after) VALUES (%s, %s, 'restock', 1, 0, 1)",
        (product["id"], variant["id"]),
    )
    response = await client.delete(f"/api/admin/variants/{variant['id']}", headers=admin.headers)
    assert response.status == 200 and await response.json() == {"success": True}
    assert sql("SELECT id FROM product_variants WHERE id = %s", (variant["id"],)) == []
    rows = sql("SELECT variant_id FROM inventory_adjustments WHERE product_id = %s", (product["id"],))
    assert rows == [{"variant_id": None}]


async def test_variant_stock_moves_only_through_the_ledger(make_client, admin, make_product, sql):
    """Every unit of the product's stock and of each variant's on-hand is explained by ledger rows."""
    client = await make_client()
    product = make_product(stock_quantity=0)
    small = await add_variant(client, admin, product["id"], variantName="1 kg", onHandQuantity=30)
    large = await add_variant(client, admin, product["id"], variantName="10 kg")
    assert small["on_hand_quantity"] == 30 and large["on_hand_quantity"] == 0

    edited = await client.put(f"/api/admin/variants/{small['id']}", json={"onHandQuantity": 25}, headers=admin.headers)
    assert edited.status == 200 and (await edited.json())["data"]["on_hand_quantity"] == 25
    renamed = await client.put(f"/api/admin/variants/{large['id']}", json={"price": 21}, headers=admin.headers)
    assert renamed.status == 200  # no stock sent: no ledger row
    adjust = {"variantId": large["id"], "adjustmentType": "restock", "quantityChange": 12, "reason": "delivery"}
    assert (await client.post("/api/admin/inventory/adjust", json=adjust, headers=admin.headers)).status == 200
    too_many = {**adjust, "adjustmentType": "damage", "quantityChange": -13}
    refused = await client.post("/api/admin/inventory/adjust", json=too_many, headers=admin.headers)
    assert refused.status == 409  # the variant holds 12, whatever the product holds

    def counters():
        (row,) = sql("SELECT stock_quantity FROM products WHERE id = %s", (product["id"],))
        variants = sql("SELECT id, on_hand_quantity FROM product_variants WHERE product_id = %s", (product["id"],))
        return row["stock_quantity"], {v["id"]: v["on_hand_quantity"] for v in variants}

    def ledger():
        rows = sql(
            "SELECT variant_id, quantity_change, quantity_before, quantity_after, adjustment_type"
            " FROM inventory_adjustments WHERE product_id = %s ORDER BY id",
            (product["id"],),
        )
        return rows

    stock, on_hand = counters()
    rows = ledger()
    assert (stock, on_hand) == (37, {small["id"]: 25, large["id"]: 12})
    assert [(r["variant_id"], r["quantity_change"], r["adjustment_type"]) for r in rows] == [
        (small["id"], 30, "restock"),
        (small["id"], -5, "correction"),
        (large["id"], 12, "restock"),
    ]
    assert stock == sum(r["quantity_change"] for r in rows)
    for variant_id, quantity in on_hand.items():
        assert quantity == sum(r["quantity_change"] for r in rows if r["variant_id"] == variant_id)
    assert all(r["quantity_before"] + r["quantity_change"] == r["quantity_after"] for r in rows)
    assert [r["quantity_after"] for r in rows] == [30, 25, 37]  # one unbroken chain of the product's counter

    # Deleting a variant leaves its units in the product's stock, still explained by the ledger.
    assert (await client.delete(f"/api/admin/variants/{small['id']}", headers=admin.headers)).status == 200
    assert counters() == (37, {large["id"]: 12})
    assert sum(r["quantity_change"] for r in ledger()) == 37
