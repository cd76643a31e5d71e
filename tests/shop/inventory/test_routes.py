"""Inventory routes: adjustments through the ledger, the log, the stock view."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from jaan.web.response_cache import RESPONSE_CACHE
from tests.shop.orders.conftest import Shop
from tests.waiting import PATIENCE, eventually


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)


def adjustment(product: int, change: int, kind: str = "restock", **extra) -> dict:
    return {"productId": product, "adjustmentType": kind, "quantityChange": change, "reason": "cycle count", **extra}


async def test_adjustment_changes_stock_and_is_logged(make_client, admin, shop):
    client = await make_client()
    product = shop.product(stock=5)
    response = await client.post("/api/admin/inventory/adjust", json=adjustment(product, 7), headers=admin.headers)
    assert response.status == 200
    row = (await response.json())["data"]
    assert (row["quantity_before"], row["quantity_after"], row["adjusted_by_user_id"]) == (5, 12, str(admin.id))
    assert shop.stock(product) == 12
    log = await (
        await client.get("/api/admin/inventory/adjustments", params={"productId": str(product)}, headers=admin.headers)
    ).json()
    assert [entry["quantity_change"] for entry in log["data"]] == [7]
    assert (
        shop.value(
            "SELECT count(*) FROM activity_logs WHERE action = 'Inventory Adjusted' AND entity_id = %s", (str(product),)
        )
        == 1
    )


async def test_adjustment_never_takes_stock_below_zero(make_client, admin, shop):
    client = await make_client()
    product = shop.product(stock=3)
    response = await client.post(
        "/api/admin/inventory/adjust", json=adjustment(product, -5, "spoilage"), headers=admin.headers
    )
    assert response.status == 409
    assert shop.stock(product) == 3


async def test_concurrent_adjustments_lose_no_update(make_client, admin, shop):
    # 30 at once through 8 connections: the last ones wait for a connection, on a busy machine longer
    # than the default 2 s before 503 Service busy. What is under test is that no update is lost, so
    # they may wait as long as the suite waits for anything (a lost update still shows in the stock).
    client = await make_client(pool_max=8, connect_timeout=PATIENCE)
    product = shop.product(stock=0)
    responses = await asyncio.gather(
        *(
            client.post("/api/admin/inventory/adjust", json=adjustment(product, 1), headers=admin.headers)
            for _ in range(30)
        )
    )
    assert [r.status for r in responses] == [200] * 30
    assert shop.stock(product) == 30


@pytest.mark.parametrize(
    "body",
    [
        {"adjustmentType": "restock", "quantityChange": -2, "reason": "x"},
        {"adjustmentType": "spoilage", "quantityChange": 2, "reason": "x"},
        {"adjustmentType": "correction", "quantityChange": 0, "reason": "x"},
        {"adjustmentType": "sale", "quantityChange": -1, "reason": "x"},
        {"adjustmentType": "restock", "quantityChange": 2, "reason": ""},
        {"adjustmentType": "restock", "quantityChange": 2.5, "reason": "x"},
    ],
)
async def test_invalid_adjustments_are_400_and_change_nothing(make_client, admin, shop, body):
    client = await make_client()
    product = shop.product(stock=5)
    response = await client.post(
        "/api/admin/inventory/adjust", json={"productId": product, **body}, headers=admin.headers
    )
    assert response.status == 400
    assert shop.stock(product) == 5


async def test_unknown_product_is_404(make_client, admin):
    client = await make_client()
    response = await client.post("/api/admin/inventory/adjust", json=adjustment(999_999_999, 1), headers=admin.headers)
    assert response.status == 404


async def test_inventory_view_pages_and_counts(make_client, admin, shop):
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    for stock in (0, 3, 50):
        shop.product(stock=stock, name=f"Lentils {tag} {stock}")
    view = await (
        await client.get("/api/admin/inventory", params={"search": tag, "page": "1"}, headers=admin.headers)
    ).json()
    data = view["data"]
    assert [p["currentStock"] for p in data["products"]] == [0, 3, 50]
    assert {"totalItems", "totalValue", "outOfStockCount", "lowStockCount"} <= set(data["stats"])
    assert data["total"] == 3 and data["per_page"] == 100
    low = await (
        await client.get("/api/admin/inventory", params={"search": tag, "status": "low_stock"}, headers=admin.headers)
    ).json()
    assert [p["currentStock"] for p in low["data"]["products"]] == [3]
    one = await (
        await client.get(
            "/api/admin/inventory", params={"search": tag, "per_page": "2", "page": "2"}, headers=admin.headers
        )
    ).json()
    assert [p["currentStock"] for p in one["data"]["products"]] == [50] and one["data"]["total_pages"] == 2


async def test_without_paging_the_inventory_is_every_product(make_client, admin, shop):
    """The web client's Inventory page asks without paging and counts what it gets (issue 10)."""
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    shop.query(
        "INSERT INTO products (name, slug, sku, price, unit, stock_quantity)"
        " SELECT 'Millet ' || %s || ' ' || n, 'millet-' || %s || '-' || n, 'MIL-' || %s || '-' || n, 2.5, 'kg', n"
        " FROM generate_series(1, 120) n",
        (tag, tag, tag),
    )
    response = await client.get("/api/admin/inventory", headers=admin.headers)
    assert response.status == 200 and response.headers["Cache-Control"] == "private, no-cache"
    data = (await response.json())["data"]
    live = shop.value("SELECT count(*) FROM products WHERE archived_at IS NULL")
    assert len(data["products"]) == data["total"] == data["stats"]["totalItems"] == live > 100
    assert "page" not in data and "per_page" not in data
    tagged = await (await client.get("/api/admin/inventory", params={"search": tag}, headers=admin.headers)).json()
    assert len(tagged["data"]["products"]) == 120
    paged = await (await client.get("/api/admin/inventory?page=1", headers=admin.headers)).json()
    assert len(paged["data"]["products"]) == 100 and paged["data"]["total"] == live


async def test_the_whole_inventory_is_cached_until_stock_or_the_catalogue_changes(make_client, admin, shop):
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    product = shop.product(stock=5, name=f"Jaggery {tag}")
    path, params = "/api/admin/inventory", {"search": tag}

    async def stock_shown() -> int:
        response = await client.get(path, params=params, headers=admin.headers)
        return (await response.json())["data"]["products"][0]["currentStock"]

    cache = client.app[RESPONSE_CACHE]
    await eventually(lambda: _true(cache.live), within=30)  # the worker keeps nothing until it listens
    assert await stock_shown() == 5
    assert cache.get(("whole inventory", tag, "all")) is not None
    # A change through this worker is visible at once…
    assert (await client.post(f"{path}/adjust", json=adjustment(product, 2), headers=admin.headers)).status == 200
    assert await stock_shown() == 7
    # …and one made elsewhere (another worker, psql) as soon as its notification arrives.
    shop.query("UPDATE products SET stock_quantity = 11 WHERE id = %s", (product,))
    await eventually(lambda: _equals(stock_shown, 11))
    shop.query("UPDATE products SET archived_at = now() WHERE id = %s", (product,))
    await eventually(lambda: _empty(client, path, params, admin))


async def _true(value) -> bool:
    return bool(value)


async def _equals(read, expected) -> bool:
    return await read() == expected


async def _empty(client, path, params, admin) -> bool:
    return (await (await client.get(path, params=params, headers=admin.headers)).json())["data"]["products"] == []


async def test_a_whole_inventory_past_the_ceiling_asks_for_pages(make_client, admin, shop):
    client = await make_client(whole_list_max_rows=2)
    tag = uuid.uuid4().hex[:8]
    for stock in (1, 2, 3):
        shop.product(stock=stock, name=f"Sago {tag} {stock}")
    response = await client.get("/api/admin/inventory", params={"search": tag}, headers=admin.headers)
    assert response.status == 400
    body = await response.json()
    assert "page" in body["error"] and "per_page" in body["details"]
    paged = await client.get("/api/admin/inventory", params={"search": tag, "per_page": "2"}, headers=admin.headers)
    assert paged.status == 200 and len((await paged.json())["data"]["products"]) == 2


async def test_inventory_routes_are_admin_only(make_client, customer):
    client = await make_client()
    for method, path in [
        ("get", "/api/admin/inventory"),
        ("get", "/api/admin/inventory/adjustments"),
        ("post", "/api/admin/inventory/adjust"),
    ]:
        assert (await getattr(client, method)(path)).status == 401
        assert (await getattr(client, method)(path, headers=customer.headers)).status == 403
