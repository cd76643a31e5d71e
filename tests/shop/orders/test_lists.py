"""Who sees which orders."""

from __future__ import annotations

from tests.shop.orders.conftest import cart


async def test_customers_see_their_own_orders_and_admins_all(make_client, make_account, admin, shop):
    client = await make_client()
    alice, bob = make_account(), make_account()
    product = shop.product(stock=20)
    for account in (alice, alice, bob):
        assert (await client.post("/api/orders", json=cart((product, 1)), headers=account.headers)).status == 200
    mine = (await (await client.get("/api/orders", headers=alice.headers)).json())["data"]
    assert mine["total"] == 2 and {row["user_id"] for row in mine["data"]} == {str(alice.id)}
    everyone = await (await client.get("/api/orders", params={"per_page": "100"}, headers=admin.headers)).json()
    assert everyone["data"]["total"] >= 3


async def test_another_customers_order_is_404_and_the_owner_sees_lines(make_client, make_account, admin, shop):
    client = await make_client()
    alice, bob = make_account(), make_account()
    product = shop.product(stock=5)
    order = (await (await client.post("/api/orders", json=cart((product, 2)), headers=alice.headers)).json())["data"]
    path = f"/api/orders/{order['order_id']}"
    assert (await client.get(path, headers=bob.headers)).status == 404
    assert (await client.get(path)).status == 401
    own = (await (await client.get(path, headers=alice.headers)).json())["data"]
    assert own["items"][0]["quantity"] == 2 and own["items"][0]["product_id"] == product
    assert (await client.get(path, headers=admin.headers)).status == 200


async def test_list_pages_and_filters(make_client, make_account, shop):
    client = await make_client()
    alice = make_account()
    product = shop.product(stock=20)
    for _ in range(3):
        await client.post("/api/orders", json=cart((product, 1)), headers=alice.headers)
    page = (
        await (await client.get("/api/orders", params={"per_page": "2", "page": "2"}, headers=alice.headers)).json()
    )["data"]
    assert (page["total"], page["total_pages"], len(page["data"])) == (3, 2, 1)
    filtered = await (await client.get("/api/orders", params={"status": "shipped"}, headers=alice.headers)).json()
    assert filtered["data"]["total"] == 0
    for bad in ({"status": "lost"}, {"per_page": "500"}, {"page": "0"}):
        assert (await client.get("/api/orders", params=bad, headers=alice.headers)).status == 400
