"""The headline figures follow the orders' changes without a recount (issue 14), each change counted once."""

from __future__ import annotations

from decimal import Decimal

import psycopg2
import pytest

from jaan.shop.dashboard.headline import HeadlineFigures, OrderChange, Snapshot
from jaan.web.response_cache import RESPONSE_CACHE
from tests.shop.orders.conftest import Shop
from tests.waiting import eventually

_ORDER = (
    "INSERT INTO orders (customer_name, customer_email, status, shipping_street, shipping_city, shipping_state,"
    " shipping_zip, subtotal, total, payment_method) VALUES ('Test Customer', 'c@example.com', 'pending',"
    " '1 Main St', 'Springfield', 'IL', '62701', %s, %s, 'cod') RETURNING id"
)


def test_a_change_counts_placed_cancelled_and_deleted_orders():
    placed = OrderChange.parse("900:::pending:25.50:7:1")
    assert (placed.xid, placed.orders, placed.pending, placed.revenue) == (900, 1, 1, Decimal("25.50"))
    cancelled = OrderChange.parse("901:pending:25.50:cancelled:25.50:7:2")
    assert (cancelled.orders, cancelled.pending, cancelled.revenue) == (0, -1, Decimal("-25.50"))
    deleted = OrderChange.parse("902:delivered:10.00:::7:3")
    assert (deleted.orders, deleted.pending, deleted.revenue) == (-1, 0, Decimal("-10.00"))


def test_a_snapshot_sees_what_committed_before_it_only():
    snapshot = Snapshot.parse("100:105:101,103")
    assert snapshot.sees(99) and snapshot.sees(102) and snapshot.sees(104)
    assert not snapshot.sees(101) and not snapshot.sees(103) and not snapshot.sees(105)


def test_changes_heard_during_the_read_count_only_if_the_read_missed_them():
    figures = HeadlineFigures()
    figures.heard(OrderChange.parse("99:::pending:5:1:1"))  # committed before the read: counted by it
    figures.heard(OrderChange.parse("101:::pending:7:2:1"))  # in progress during the read
    figures.read({"totalOrders": 10, "pendingOrders": 4, "revenue": Decimal(100)}, Snapshot.parse("100:102:101"))
    figures.heard(OrderChange.parse("103:::delivered:1:3:1"))  # after the read
    body, etag = figures.current()
    assert body == b'{"success":true,"data":{"totalOrders":12,"pendingOrders":5,"revenue":108}}' and etag


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)


async def test_orders_change_the_cached_figures_each_once_without_a_recount(
    make_client, admin, customer, probe_database, shop
):
    from tests.shop.orders.conftest import cart

    reader, seller = await make_client(), await make_client()
    product = shop.product(stock=5)  # before the figures are read: a new product empties the caches

    async def stats(client=reader) -> dict:
        response = await client.get("/api/admin/stats", headers=admin.headers)
        assert response.status == 200
        return (await response.json())["data"]

    # An order whose transaction is still open while the figures are read: the read does not see
    # it, its notification comes after; it must be counted once.
    conn = psycopg2.connect(probe_database)
    with conn.cursor() as cur:
        cur.execute(_ORDER, (Decimal("25.00"), Decimal("25.00")))
        straddling = cur.fetchone()[0]
        before = await stats()
        entry = reader.app[RESPONSE_CACHE].get("admin stats")
        conn.commit()
    conn.close()

    async def counted() -> bool:
        return (await stats())["totalOrders"] == before["totalOrders"] + 1

    await eventually(counted)
    after = await stats()
    assert after["pendingOrders"] == before["pendingOrders"] + 1
    assert Decimal(str(after["revenue"])) == Decimal(str(before["revenue"])) + 25

    # Through the API in another worker, and a cancellation straight in the database.
    placed = await seller.post("/api/orders", json=cart((product, 2)), headers=customer.headers)
    assert placed.status == 200
    total = Decimal(str((await placed.json())["data"]["total"]))
    shop.query("UPDATE orders SET status = 'cancelled' WHERE id = %s", (straddling,))

    async def both_heard() -> bool:
        now = await stats()
        return now["totalOrders"] == before["totalOrders"] + 2 and now["pendingOrders"] == before["pendingOrders"] + 1

    await eventually(both_heard)
    now = await stats()
    assert Decimal(str(now["revenue"])) == Decimal(str(before["revenue"])) + total
    # The same entry all along (no recount), and what a recount in a fresh worker finds.
    assert reader.app[RESPONSE_CACHE].get("admin stats") is entry
    assert now == await stats(await make_client())
