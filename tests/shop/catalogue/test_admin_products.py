"""Admin product writes: create (#11), edit with PATCH semantics (#12), archive (#13)."""

from __future__ import annotations

import pytest

from tests.openapi_document import body_schema
from tests.shop.catalogue.conftest import token

VALID_UPC = "036000291452"  # a real UPC-A


def product_body(**overrides):
    tag = token()
    body = {
        "name": f"Basmati Rice {tag}",
        "sku": f"RICE-{tag}",
        "price": 12.5,
        "description": "Long grain",
        "unit": "kg",
    }
    body.update(overrides)
    return body


async def create(client, admin, **overrides):
    response = await client.post("/api/admin/products", json=product_body(**overrides), headers=admin.headers)
    assert response.status == 200, await response.text()
    return (await response.json())["data"]


def ledger(sql, product_id):
    return sql(
        "SELECT adjustment_type, quantity_change, quantity_before, quantity_after, reason, adjusted_by_user_id"
        " FROM inventory_adjustments WHERE product_id = %s ORDER BY id",
        (product_id,),
    )


def activity(sql, entity_id, entity_type="product"):
    return [
        row["action"]
        for row in sql(
            "SELECT action FROM activity_logs WHERE entity_type = %s AND entity_id = %s ORDER BY id",
            (entity_type, str(entity_id)),
        )
    ]


async def test_creating_a_product_returns_the_full_row(make_client, admin, make_category, sql):
    category = make_category()
    [supplier] = sql("INSERT INTO suppliers (name) VALUES ('Punjab Mills') RETURNING id")
    product = await create(
        await make_client(),
        admin,
        categoryId=category["id"],
        comparePrice=15,
        costPrice="10.00",
        stock=40,
        weight=2,
        images=["/rice.png"],
        upcCode=VALID_UPC,
        expiryDate="2027-01-31",
        isFeatured=True,
        supplierId=supplier["id"],
    )
    assert product["slug"].startswith("basmati-rice-") and product["price"] == 12.5
    assert product["category_id"] == category["id"] and product["category_name"] == category["name"]
    assert product["stock_quantity"] == 40 and product["on_hand_quantity"] == 40
    assert product["stock_status"] == "in_stock" and product["margin_percentage"] == 20
    assert product["expiry_date"] == "2027-01-31" and product["images"] == ["/rice.png"]
    assert product["is_featured"] is True and product["supplier_id"] == supplier["id"]
    assert product["created_at"].endswith("Z")
    assert ledger(sql, product["id"]) == [
        {
            "adjustment_type": "restock",
            "quantity_change": 40,
            "quantity_before": 0,
            "quantity_after": 40,
            "reason": "initial stock",
            "adjusted_by_user_id": str(admin.id),
        }
    ]
    assert activity(sql, product["id"]) == ["Product Created"]


async def test_the_old_client_names_the_category_and_sends_blanks(make_client, admin, make_category):
    category = make_category()
    product = await create(
        await make_client(), admin, category=category["name"], comparePrice=0, weight="", expiryDate=""
    )
    assert product["category_id"] == category["id"]
    assert product["compare_price"] is None and product["weight"] is None and product["expiry_date"] is None


async def test_defaults_of_a_minimal_product(make_client, admin, sql):
    product = await create(await make_client(), admin)
    assert product["stock_quantity"] == 0 and product["stock_status"] == "out_of_stock"
    assert product["low_stock_threshold"] == 10 and product["tax_category"] == "grocery"
    assert product["category_id"] is None and product["images"] == []
    assert ledger(sql, product["id"]) == []


async def test_a_name_taken_gets_a_numbered_slug_that_survives_a_rename(make_client, admin):
    client = await make_client()
    name = f"Chakki Atta {token()}"
    first = await create(client, admin, name=name)
    second = await create(client, admin, name=name)
    third = await create(client, admin, name=name.upper())
    assert second["slug"] == first["slug"] + "-2" and third["slug"] == first["slug"] + "-3"
    renamed = await client.put(
        f"/api/admin/products/{first['id']}", json={"name": "Something New"}, headers=admin.headers
    )
    assert (await renamed.json())["data"]["slug"] == first["slug"]


async def test_a_duplicate_sku_is_409_and_writes_nothing(make_client, admin, sql):
    client = await make_client()
    first = await create(client, admin)
    name = f"Duplicate {token()}"
    response = await client.post(
        "/api/admin/products", json=product_body(sku=first["sku"], name=name, stock=5), headers=admin.headers
    )
    assert response.status == 409
    assert (await response.json())["error"] == "A product with this SKU already exists"
    assert sql("SELECT id FROM products WHERE name = %s", (name,)) == []


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"name": None}, "name"),
        ({"name": "  "}, "name"),
        ({"sku": ""}, "sku"),
        ({"price": "NaN"}, "price"),
        ({"price": -1}, "price"),
        ({"price": 1.234}, "price"),
        ({"price": "abc"}, "price"),
        ({"unit": ""}, "unit"),
        ({"stock": -3}, "stock"),
        ({"stock": 1.5}, "stock"),
        ({"comparePrice": "Infinity"}, "comparePrice"),
        ({"weight": -1}, "weight"),
        ({"weight": False}, "weight"),
        ({"supplierId": False}, "supplierId"),
        ({"images": "x.png"}, "images"),
        ({"upcCode": "036000291453"}, "upcCode"),
        ({"upcCode": "12345"}, "upcCode"),
        ({"taxCategory": "tobacco"}, "taxCategory"),
        ({"expiryDate": "2027-02-30"}, "expiryDate"),
        ({"isFeatured": "yes"}, "isFeatured"),
        ({"categoryId": 2**31}, "categoryId"),
        ({"category": "No Such Category Anywhere"}, "category"),
    ],
)
async def test_invalid_products_are_400_and_write_nothing(make_client, admin, sql, overrides, field):
    name = f"Invalid {token()}"
    body = product_body(name=name, **overrides) if "name" not in overrides else product_body(**overrides)
    response = await (await make_client()).post("/api/admin/products", json=body, headers=admin.headers)
    assert response.status == 400, await response.text()
    assert field in (await response.json())["details"]
    assert sql("SELECT id FROM products WHERE sku = %s", (body["sku"],)) == []


async def test_missing_fields_are_all_named(make_client, admin):
    response = await (await make_client()).post("/api/admin/products", json={}, headers=admin.headers)
    assert response.status == 400
    assert {"name", "sku", "price", "description", "unit"} <= set((await response.json())["details"])


async def test_malformed_json_is_400(make_client, admin):
    response = await (await make_client()).post(
        "/api/admin/products", data="{", headers={**admin.headers, "Content-Type": "application/json"}
    )
    assert response.status == 400


async def test_an_edit_changes_only_the_fields_sent(make_client, admin, make_category, sql):
    client = await make_client()
    category = make_category()
    product = await create(client, admin, stock=25, images=["/a.png"], categoryId=category["id"], weight=1)
    response = await client.put(f"/api/admin/products/{product['id']}", json={"price": "14.00"}, headers=admin.headers)
    assert response.status == 200
    edited = (await response.json())["data"]
    assert edited["price"] == 14 and edited["stock_quantity"] == 25 and edited["images"] == ["/a.png"]
    assert edited["category_id"] == category["id"] and edited["weight"] == 1
    assert edited["name"] == product["name"] and edited["description"] == product["description"]
    assert len(ledger(sql, product["id"])) == 1
    assert activity(sql, product["id"]) == ["Product Created", "Product Updated"]


async def test_a_stock_edit_goes_through_the_ledger(make_client, admin, sql):
    client = await make_client()
    product = await create(client, admin, stock=25)
    response = await client.put(
        f"/api/admin/products/{product['id']}",
        json={"stock": 5, "adjustmentReason": "stock count"},
        headers=admin.headers,
    )
    data = (await response.json())["data"]
    assert data["stock_quantity"] == 5 and data["stock_status"] == "low_stock"
    last = ledger(sql, product["id"])[-1]
    assert (last["adjustment_type"], last["quantity_change"], last["quantity_before"], last["quantity_after"]) == (
        "correction",
        -20,
        25,
        5,
    )
    assert last["reason"] == "stock count"
    same = await client.put(f"/api/admin/products/{product['id']}", json={"stock": 5}, headers=admin.headers)
    assert same.status == 200 and len(ledger(sql, product["id"])) == 2  # no change, no row


async def test_an_edit_can_clear_and_recategorise(make_client, admin, make_category):
    client = await make_client()
    first, second = make_category(), make_category()
    product = await create(client, admin, categoryId=first["id"], comparePrice=20)
    response = await client.put(
        f"/api/admin/products/{product['id']}",
        json={"category": second["name"], "comparePrice": None},
        headers=admin.headers,
    )
    data = (await response.json())["data"]
    assert data["category_id"] == second["id"] and data["compare_price"] is None


async def test_an_invalid_edit_is_400_and_changes_nothing(make_client, admin, sql):
    client = await make_client()
    product = await create(client, admin, stock=10)
    response = await client.put(
        f"/api/admin/products/{product['id']}", json={"price": "NaN", "stock": 3}, headers=admin.headers
    )
    assert response.status == 400 and "price" in (await response.json())["details"]
    row = sql("SELECT price, stock_quantity FROM products WHERE id = %s", (product["id"],))[0]
    assert (float(row["price"]), row["stock_quantity"]) == (12.5, 10)


async def test_an_edit_to_a_taken_sku_is_409(make_client, admin):
    client = await make_client()
    first, second = await create(client, admin), await create(client, admin)
    response = await client.put(
        f"/api/admin/products/{second['id']}", json={"sku": first["sku"]}, headers=admin.headers
    )
    assert response.status == 409
    assert (await response.json())["error"] == "A product with this SKU already exists"


@pytest.mark.parametrize("product_id", ["999999999", "abc", "1.5", "-1", "99999999999999999999"])
async def test_editing_or_archiving_a_missing_product_is_404(make_client, admin, product_id):
    client = await make_client()
    edit = await client.put(f"/api/admin/products/{product_id}", json={"price": 1}, headers=admin.headers)
    archive = await client.delete(f"/api/admin/products/{product_id}", headers=admin.headers)
    assert edit.status == archive.status == 404
    # An id that is not digits matches no route (ids are whole numbers, as documented).
    expected = "Product not found" if product_id.isdigit() else "Not found"
    assert (await edit.json())["error"] == expected


async def test_archiving_hides_the_product_but_keeps_its_sku_and_slug_taken(make_client, admin, sql):
    client = await make_client()
    product = await create(client, admin, stock=3)
    response = await client.delete(f"/api/admin/products/{product['id']}", headers=admin.headers)
    assert response.status == 200 and await response.json() == {"success": True}
    assert (await client.get(f"/api/products/slug/{product['slug']}")).status == 404
    listed = await (await client.get("/api/products", params={"search": product["name"]})).json()
    assert listed["data"]["total"] == 0
    assert (await client.delete(f"/api/admin/products/{product['id']}", headers=admin.headers)).status == 404
    assert (
        await client.put(f"/api/admin/products/{product['id']}", json={"price": 1}, headers=admin.headers)
    ).status == 404
    again = await client.post("/api/admin/products", json=product_body(sku=product["sku"]), headers=admin.headers)
    assert again.status == 409
    renamed = await create(client, admin, name=product["name"])
    assert renamed["slug"] == product["slug"] + "-2"
    assert activity(sql, product["id"])[-1] == "Product Archived"


@pytest.mark.parametrize(("who", "status"), [("anonymous", 401), ("user", 403), ("moderator", 403)])
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/admin/products"),
        ("PUT", "/api/admin/products/1"),
        ("DELETE", "/api/admin/products/1"),
        ("GET", "/api/admin/products/1/variants"),
        ("POST", "/api/admin/products/1/variants"),
        ("PUT", "/api/admin/variants/1"),
        ("DELETE", "/api/admin/variants/1"),
    ],
)
async def test_admin_routes_refuse_anyone_but_an_admin(make_client, make_account, sql, who, status, method, path):
    headers = {} if who == "anonymous" else make_account(who).headers
    before = sql("SELECT count(*) AS n FROM products")[0]["n"]
    response = await (await make_client()).request(method, path, json=product_body(), headers=headers)
    assert response.status == status
    assert (await response.json())["success"] is False
    assert sql("SELECT count(*) AS n FROM products")[0]["n"] >= before  # nothing archived or written by us


async def test_the_openapi_document_shows_the_catalogue_schemas(make_client):
    document = await (await (await make_client()).get("/api/openapi.json")).json()
    listing = document["paths"]["/api/products"]["get"]
    assert {"category_id", "search", "sort_by", "per_page"} <= {p["name"] for p in listing["parameters"]}
    create = document["paths"]["/api/admin/products"]["post"]
    schema = body_schema(document, "/api/admin/products", "post")
    assert {"name", "sku", "price"} <= set(schema["required"]) and create["x-access"] == "admin"
    assert "variants" in str(document["paths"]["/api/admin/products/{id}/variants"])
    # The edit changes only the fields sent, and says so: nothing is required.
    edit = body_schema(document, "/api/admin/products/{id}", "put")
    assert not edit.get("required") and edit["description"].startswith("Partial update")
    assert set(edit["properties"]) >= set(schema["properties"])
