"""Customers (#42–#43): non-admin users with their spend, tiers, activity and addresses.

Cancelled orders count in `total_orders` but never in spend (§5.9)."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest

from tests.shop.customers.conftest import place_order


def find(rows, account):
    return next(row for row in rows if row["id"] == str(account.id))


async def test_customers_carry_spend_tier_and_status(make_client, admin, make_account, shop):
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    big, idle, new = (make_account("user", email=f"{n}-{tag}@example.com") for n in ("big", "idle", "new"))
    place_order(shop, big.id, "1500.00", status="delivered")
    place_order(shop, big.id, "600.00")
    place_order(shop, big.id, "9000.00", status="cancelled")  # never counts
    long_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=120)
    place_order(shop, idle.id, "499.99", created_at=long_ago)

    response = await client.get(f"/api/admin/customers?search={tag}", headers=admin.headers)
    assert response.status == 200
    page = (await response.json())["data"]
    assert page["total"] == 3 and page["page"] == 1 and page["per_page"] == 20 and page["total_pages"] == 1
    # The biggest spenders first (#42).
    assert [row["email"] for row in page["data"]] == [big.email, idle.email, new.email]
    row = find(page["data"], big)
    # Three orders, the cancelled one among them; it adds nothing to the spend.
    assert (row["total_orders"], row["total_spent"], row["tier"], row["status"]) == (3, 2100, "Gold", "active")
    row = find(page["data"], idle)
    assert (row["total_orders"], row["total_spent"], row["tier"], row["status"]) == (1, 499.99, "Bronze", "inactive")
    row = find(page["data"], new)
    assert (row["total_orders"], row["total_spent"], row["last_order_date"], row["status"]) == (0, 0, None, "inactive")

    async def emails(query: str) -> list[str]:
        response = await client.get(f"/api/admin/customers?search={tag}&{query}", headers=admin.headers)
        assert response.status == 200
        return [row["email"] for row in (await response.json())["data"]["data"]]

    assert await emails("status=active") == [big.email]
    assert await emails("status=inactive") == [idle.email, new.email]
    assert await emails("tier=gold") == [big.email]
    assert await emails("tier=Bronze") == [idle.email, new.email]
    assert await emails("tier=platinum") == []
    assert await emails("per_page=1&page=2") == [idle.email]


async def test_admins_are_not_customers(make_client, admin):
    client = await make_client()
    response = await client.get(f"/api/admin/customers?search={admin.email}", headers=admin.headers)
    assert (await response.json())["data"]["total"] == 0
    assert (await client.get(f"/api/admin/customers/{admin.id}", headers=admin.headers)).status == 404


@pytest.mark.parametrize("query", ["status=gone", "tier=diamond", "page=0", "per_page=500", "per_page=x"])
async def test_invalid_list_queries_are_400(make_client, admin, query):
    client = await make_client()
    assert (await client.get(f"/api/admin/customers?{query}", headers=admin.headers)).status == 400


async def test_one_customer_with_the_latest_ten_orders(make_client, admin, customer, shop):
    client = await make_client()
    orders = [place_order(shop, customer.id, "10.00") for _ in range(11)]
    place_order(shop, customer.id, "50.00", status="cancelled")
    response = await client.get(f"/api/admin/customers/{customer.id}", headers=admin.headers)
    assert response.status == 200
    data = (await response.json())["data"]
    # total_orders counts the cancelled order the list below shows; the spend leaves it out.
    assert data["email"] == customer.email and data["total_orders"] == 12 and data["total_spent"] == 110
    assert data["tier"] == "Bronze" and data["status"] == "active" and "avatar_url" in data
    assert len(data["orders"]) == 10 and data["orders"][0]["status"] == "cancelled"
    assert orders[0] not in {order["id"] for order in data["orders"]}
    for missing in (uuid.uuid4(), "not-a-uuid"):
        assert (await client.get(f"/api/admin/customers/{missing}", headers=admin.headers)).status == 404


async def test_customers_carry_their_distinct_shipping_addresses_newest_first(make_client, admin, make_account, shop):
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    two, none = (make_account("user", email=f"{n}-{tag}@example.com") for n in ("two", "none"))
    now = dt.datetime.now(dt.UTC)
    first = place_order(shop, two.id, "10.00", created_at=now - dt.timedelta(days=3))
    again = place_order(shop, two.id, "10.00", created_at=now - dt.timedelta(days=2))  # same address
    moved = place_order(shop, two.id, "10.00", created_at=now - dt.timedelta(days=1))
    shop.query(
        "UPDATE orders SET shipping_street = '9 Elm Rd', shipping_street2 = 'Unit 4', shipping_city = 'Portland',"
        " shipping_state = 'OR', shipping_zip = '97201', shipping_country = 'United States' WHERE id = %s",
        (moved,),
    )
    newest = {"street": "9 Elm Rd", "street2": "Unit 4", "city": "Portland", "state": "OR", "zip": "97201"}
    older = {"street": "1 Main St", "street2": None, "city": "Springfield", "state": "IL", "zip": "62701"}
    expected = [{**newest, "country": "United States"}, {**older, "country": "United States"}]
    assert first != again

    response = await client.get(f"/api/admin/customers?search={tag}", headers=admin.headers)
    rows = (await response.json())["data"]["data"]
    assert find(rows, two)["addresses"] == expected
    assert find(rows, none)["addresses"] == []

    detail = (await (await client.get(f"/api/admin/customers/{two.id}", headers=admin.headers)).json())["data"]
    assert detail["addresses"] == expected
    detail = (await (await client.get(f"/api/admin/customers/{none.id}", headers=admin.headers)).json())["data"]
    assert detail["addresses"] == []
