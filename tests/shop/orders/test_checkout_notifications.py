"""What a checkout announces to the workers' listeners (migrations/0023): every listener reads every
notification, so an order sends as few as carry its changes."""

from __future__ import annotations

import psycopg2

from tests.shop.orders.conftest import cart
from tests.waiting import eventually


async def test_an_order_names_all_its_products_in_one_stock_notification(make_client, customer, shop):
    plenty, last = shop.product(stock=40), shop.product(stock=2)
    listening = psycopg2.connect(shop.dsn)
    listening.autocommit = True
    try:
        with listening.cursor() as cur:
            cur.execute("LISTEN jaan_stock; LISTEN jaan_changed; LISTEN jaan_order_figures")
        client = await make_client()
        placed = await client.post("/api/orders", json=cart((plenty, 3), (last, 2)), headers=customer.headers)
        assert placed.status == 200
        order_id = (await placed.json())["data"]["order_id"]
        heard: list[tuple[str, str]] = []

        def figures_heard() -> bool:
            # Sent in the order's transaction, like the others: once it is in, they all are.
            listening.poll()
            heard.extend((n.channel, n.payload) for n in listening.notifies)
            listening.notifies.clear()
            return any(channel == "jaan_order_figures" and f":{order_id}:" in payload for channel, payload in heard)

        await eventually(figures_heard)
    finally:
        listening.close()

    mine = {str(plenty), str(last)}
    stock = [payload for channel, payload in heard if channel == "jaan_stock" and payload.split(":")[0] in mine]
    assert len(stock) == 1, heard
    changes = {int(part.split(":")[0]): part.split(":")[1:4] for part in stock[0].split(" ")}
    now = {
        row[0]: [row[1], str(row[2]), row[3]]
        for row in shop.query(
            "SELECT id, CASE WHEN stock_quantity = 0 THEN '1' ELSE '0' END, stock_quantity, stock_status"
            " FROM products WHERE id IN (%s, %s)",
            (plenty, last),
        )
    }
    assert changes == now and now[last] == ["1", "0", "out_of_stock"]  # the last units crossed zero
    # The order lists hear of it through jaan_order_figures: no jaan_changed of its own.
    assert ("jaan_changed", "orders") not in heard


async def test_other_stock_writers_still_notify_per_product(make_client, admin, shop):
    product = shop.product(stock=12)
    listening = psycopg2.connect(shop.dsn)
    listening.autocommit = True
    try:
        with listening.cursor() as cur:
            cur.execute("LISTEN jaan_stock")
        client = await make_client()
        change = {"productId": product, "adjustmentType": "restock", "quantityChange": 5, "reason": "count"}
        assert (await client.post("/api/admin/inventory/adjust", json=change, headers=admin.headers)).status == 200
        heard: list[str] = []

        def stock_heard() -> bool:
            listening.poll()
            heard.extend(n.payload for n in listening.notifies if n.payload.startswith(f"{product}:"))
            listening.notifies.clear()
            return bool(heard)

        await eventually(stock_heard)
    finally:
        listening.close()
    assert heard[0].split(":")[:4] == [
        str(product),
        "0",
        "17",
        shop.value("SELECT stock_status FROM products WHERE id = %s", (product,)),
    ]
