"""Dashboards (#29–#31): the spec's figures, cancelled orders left out, empty days and months listed."""

from __future__ import annotations

import asyncio
import datetime as dt
from decimal import Decimal

import pytest

from tests.shop.customers.conftest import place_order
from tests.shop.orders.conftest import Shop


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)


def at(day: str, hour: int = 12) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


async def test_stats_count_revenue_without_cancelled_orders(make_client, admin, customer, shop):
    client = await make_client()

    async def stats():
        response = await client.get("/api/admin/stats", headers=admin.headers)
        assert response.status == 200
        return (await response.json())["data"]

    before = await stats()
    assert set(before) == {
        "totalUsers",
        "totalProducts",
        "totalOrders",
        "pendingOrders",
        "revenue",
        "totalInvoices",
        "invoiceRevenue",
        "receivables",
        "paidAmount",
        "overdueInvoices",
    }
    place_order(shop, customer.id, "100.00")
    place_order(shop, customer.id, "40.00", status="delivered")
    place_order(shop, customer.id, "1000.00", status="cancelled")
    # Cached figures follow the database by NOTIFY, within milliseconds: poll, bounded.
    for _ in range(200):
        after = await stats()
        if after["totalOrders"] - before["totalOrders"] == 3:
            break
        await asyncio.sleep(0.01)
    assert after["totalOrders"] - before["totalOrders"] == 3
    assert after["pendingOrders"] - before["pendingOrders"] == 1
    assert Decimal(str(after["revenue"])) - Decimal(str(before["revenue"])) == 140


async def test_analytics_for_a_range_lists_every_month_and_day_and_leaves_out_cancelled(
    make_client, admin, make_account, shop
):
    client = await make_client()
    buyer, other = make_account("user"), make_account("user")
    product = shop.product()
    place_order(shop, buyer.id, "100.00", created_at=at("2001-01-10"), product_id=product, quantity=2)
    place_order(shop, buyer.id, "50.00", created_at=at("2001-03-05"), product_id=product)
    place_order(shop, other.id, "30.00", created_at=at("2001-03-06"))
    place_order(shop, other.id, "999.00", created_at=at("2001-03-07"), status="cancelled")
    place_order(shop, None, "20.00", created_at=at("2000-12-20"))  # the period before: 20.00

    response = await client.get("/api/admin/analytics?start=2001-01-01&end=2001-03-31", headers=admin.headers)
    assert response.status == 200
    data = (await response.json())["data"]
    metrics = data["metrics"]
    assert (metrics["totalRevenue"], metrics["totalOrders"], metrics["totalCustomers"]) == (180, 3, 2)
    assert metrics["avgOrderValue"] == 60 and metrics["revenueChange"] == 800  # 180 vs 20: +800 %
    assert [(m["period"], m["month"], m["revenue"], m["orders"]) for m in data["monthlyTrend"]] == [
        ("2001-01", "Jan", 100, 1),
        ("2001-02", "Feb", 0, 0),
        ("2001-03", "Mar", 80, 2),
    ]
    assert len(data["dailyTrend"]) == 90 and data["dailyTrend"][9] == {
        "label": "Wed",
        "day": "2001-01-10",
        "revenue": 100,
        "orders": 1,
    }
    assert {s["status"]: s["count"] for s in data["statusDistribution"]} == {"pending": 3, "cancelled": 1}
    assert [(c["orders"], c["revenue"]) for c in data["topCustomers"]] == [(2, 150), (1, 30)]
    assert data["categoryBreakdown"] == [{"name": "Uncategorized", "orders": 3, "sales": 180}]
    assert data["range"] == {"start": "2001-01-01", "end": "2001-03-31", "timezone": "UTC"}


async def test_analytics_days_follow_the_store_time_zone(make_client, admin, customer, shop):
    client = await make_client()
    # 02:00 UTC on the 2nd is still the 1st in New York.
    place_order(shop, customer.id, "10.00", created_at=at("2002-06-02", hour=2))
    shop.query("UPDATE settings SET value = 'America/New_York' WHERE key = 'store_timezone'")
    try:
        response = await client.get("/api/admin/analytics?start=2002-06-01&end=2002-06-02", headers=admin.headers)
    finally:
        shop.query("UPDATE settings SET value = 'UTC' WHERE key = 'store_timezone'")
    days = (await response.json())["data"]["dailyTrend"]
    assert [(d["day"], d["revenue"]) for d in days] == [("2002-06-01", 10), ("2002-06-02", 0)]


@pytest.mark.parametrize(
    "query",
    [
        "start=2024-02-01&end=2024-01-01",  # end before start
        "start=2020-01-01&end=2024-01-01",  # more than two years
        "start=2024-13-01",
        "start=2024-02-30",
        "end=yesterday",
    ],
)
async def test_absurd_ranges_are_400(make_client, admin, query):
    client = await make_client()
    assert (await client.get(f"/api/admin/analytics?{query}", headers=admin.headers)).status == 400


async def test_analytics_defaults_to_the_last_twelve_months(make_client, admin):
    client = await make_client()
    data = (await (await client.get("/api/admin/analytics", headers=admin.headers)).json())["data"]
    assert len(data["monthlyTrend"]) == 12
    assert data["range"]["end"] == dt.datetime.now(dt.UTC).date().isoformat()


async def test_the_dashboard_shows_a_full_week_and_the_latest_orders(make_client, admin, customer, shop):
    client = await make_client()
    order = place_order(shop, customer.id, "25.00")
    response = await client.get("/api/admin/dashboard-data", headers=admin.headers)
    assert response.status == 200
    data = (await response.json())["data"]
    week = data["revenueTrend"]
    assert len(week) == 7 and week[-1]["day"] == dt.datetime.now(dt.UTC).date().isoformat()
    assert week[-1]["revenue"] >= 25 and week[-1]["orders"] >= 1
    assert data["recentOrders"][0]["id"] == order
    assert set(data["recentOrders"][0]) == {"id", "order_number", "customer_name", "total", "status", "created_at"}
    assert len(data["categoryBreakdown"]) <= 6 and len(data["topProducts"]) <= 5
    assert isinstance(data["recentActivity"], list)


@pytest.mark.parametrize("zone", ["UTC", "Pacific/Kiritimati", "America/New_York"])
async def test_cached_stats_expire_when_the_store_day_ends(make_client, admin, shop, zone):
    """overdueInvoices depends on the date: the cached stats last until the store's midnight, no later.

    The cache's clock is moved instead of waiting for midnight.
    """
    from zoneinfo import ZoneInfo

    from jaan.web.response_cache import RESPONSE_CACHE

    client = await make_client()
    cache = client.app[RESPONSE_CACHE]
    await wait_until_live(cache)
    cache.put("marker", b"", [])
    shop.query("UPDATE settings SET value = %s WHERE key = 'store_timezone'", (zone,))
    try:
        await wait_until_dropped(cache, "marker")  # the setting's notification has emptied the cache
        first = await client.get("/api/admin/stats", headers=admin.headers)
        assert first.status == 200
        entry = cache.get("admin stats")
        assert entry is not None and entry.expires_at is not None
        store_today = dt.datetime.now(ZoneInfo(zone)).date()
        midnight = dt.datetime.combine(store_today + dt.timedelta(days=1), dt.time(), ZoneInfo(zone))
        assert abs(entry.expires_at - midnight.timestamp()) < 1  # (unless midnight passed meanwhile)

        cache.clock = lambda: entry.expires_at - 0.001  # the last moment of the store's day: kept
        assert cache.get("admin stats") is entry
        cache.clock = lambda: entry.expires_at  # the new day: built again from the database
        assert cache.get("admin stats") is None
        again = await client.get("/api/admin/stats", headers=admin.headers)
        assert again.status == 200
        assert cache.get("admin stats") is not entry
    finally:
        shop.query("UPDATE settings SET value = 'UTC' WHERE key = 'store_timezone'")


async def wait_until_live(cache) -> None:
    for _ in range(500):
        if cache.live:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the response cache never went live")


async def wait_until_dropped(cache, key) -> None:
    for _ in range(500):
        if cache.get(key) is None:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{key} was never dropped")
