"""Every worker's caches follow the database (LISTEN/NOTIFY: milliseconds on a quiet machine; these tests
wait for the change itself, not a deadline), and are not trusted while the worker cannot hear about changes."""

from __future__ import annotations

import time
import uuid

import psycopg2

from jaan.metrics import LISTEN_CATCH_UP, RESPONSE_CACHE_PATCHES, flush_tallies
from jaan.shop.accounts.session_cache import SESSION_CACHE
from jaan.web.response_cache import RESPONSE_CACHE
from tests.shop.orders.conftest import Shop
from tests.waiting import eventually


async def test_a_write_through_one_worker_is_visible_in_another(make_client, admin, probe_database):
    shop = Shop(probe_database)
    product = shop.product(stock=10, name=f"Ghee {uuid.uuid4().hex[:8]}")
    slug = shop.value("SELECT slug FROM products WHERE id = %s", (product,))
    reader, writer = await make_client(), await make_client()  # two apps: two workers' caches
    path = f"/api/products/slug/{slug}"
    assert (await (await reader.get(path)).json())["data"]["price"] == 4.5  # now cached in the reader
    response = await writer.put(f"/api/admin/products/{product}", json={"price": 5.25}, headers=admin.headers)
    assert response.status == 200

    async def reader_sees_it() -> bool:
        return (await (await reader.get(path)).json())["data"]["price"] == 5.25

    await eventually(reader_sees_it)


async def test_an_order_changes_the_stock_on_cached_pages_without_rebuilding_them(
    make_client, customer, probe_database
):
    """Issue 14: in the seller's worker and another, the cached product page and list page show the
    new stock with a new ETag, served from the same entries (no rebuild); a page without it keeps its ETag."""
    from tests.shop.orders.conftest import cart

    shop = Shop(probe_database)
    tag = uuid.uuid4().hex[:8]
    sold, untouched = shop.product(stock=30, name=f"Sold {tag}"), shop.product(stock=30, name=f"Kept {tag}")
    slug = shop.value("SELECT slug FROM products WHERE id = %s", (sold,))
    other = shop.value("SELECT slug FROM products WHERE id = %s", (untouched,))
    showing, listing = f"/api/products/slug/{slug}", f"/api/products?search={tag}"
    unrelated = f"/api/products/slug/{other}"
    seller, reader = await make_client(), await make_client()
    etags = {}
    for client in (seller, reader):
        for path in (showing, listing, unrelated):
            etags[client, path] = (await client.get(path)).headers["ETag"]
    kept = {client: dict(client.app[RESPONSE_CACHE]._entries) for client in (seller, reader)}
    flush_tallies()  # patches are tallied in the worker and written in batches
    patched = RESPONSE_CACHE_PATCHES.labels("stock")._value.get()

    assert (await seller.post("/api/orders", json=cart((sold, 3)), headers=customer.headers)).status == 200

    def stock(body: dict) -> dict[int, int]:
        rows = body["data"]["data"] if "total" in body["data"] else [body["data"]]
        return {row["id"]: row["stock_quantity"] for row in rows}

    for client in (seller, reader):

        async def shows_new_stock(client=client) -> bool:
            return stock(await (await client.get(showing)).json())[sold] == 27

        await eventually(shows_new_stock)
        assert stock(await (await client.get(listing)).json()) == {sold: 27, untouched: 30}
        for path in (showing, listing):
            etag = (await client.get(path)).headers["ETag"]
            assert etag != etags[client, path]
            assert (await client.get(path, headers={"If-None-Match": etag})).status == 304
            assert (await client.get(path, headers={"If-None-Match": etags[client, path]})).status == 200
        assert (await client.get(unrelated)).headers["ETag"] == etags[client, unrelated]
        # Served from the very entries built before the order: patched, not rebuilt.
        entries = client.app[RESPONSE_CACHE]._entries
        assert kept[client] and all(entries.get(key) is entry for key, entry in kept[client].items())
    # Counted as patched (what perf/breakdown.py reports), by the worker that heard it.
    flush_tallies()
    assert RESPONSE_CACHE_PATCHES.labels("stock")._value.get() > patched


async def test_the_last_unit_sold_leaves_the_cached_in_stock_lists(make_client, customer, probe_database):
    """Overlaid stock is not enough when a product runs out: the in-stock-only lists lose the row."""
    from tests.shop.orders.conftest import cart

    shop = Shop(probe_database)
    tag = uuid.uuid4().hex[:8]
    last, plenty = shop.product(stock=2, name=f"Last {tag}"), shop.product(stock=30, name=f"Plenty {tag}")
    client = await make_client()
    path = f"/api/products?search={tag}&in_stock_only=true"

    async def listed() -> dict[int, int]:
        return {row["id"]: row["stock_quantity"] for row in (await (await client.get(path)).json())["data"]["data"]}

    assert await listed() == {last: 2, plenty: 30}  # cached now
    assert (await client.post("/api/orders", json=cart((last, 2)), headers=customer.headers)).status == 200

    async def gone() -> bool:
        return await listed() == {plenty: 30}

    await eventually(gone)


async def test_a_stock_adjustment_is_on_the_admins_next_read_of_a_cached_page(make_client, admin, probe_database):
    """The writer's own worker forgets the product's stock at once (before the notification arrives)."""
    shop = Shop(probe_database)
    product = shop.product(stock=12)
    slug = shop.value("SELECT slug FROM products WHERE id = %s", (product,))
    client = await make_client()

    async def shown() -> int:
        return (await (await client.get(f"/api/products/slug/{slug}")).json())["data"]["stock_quantity"]

    assert await shown() == 12
    change = {"productId": product, "adjustmentType": "restock", "quantityChange": 5, "reason": "count"}
    for expected in (17, 22):  # the second time the stock map has heard of the first
        assert (await client.post("/api/admin/inventory/adjust", json=change, headers=admin.headers)).status == 200
        assert await shown() == expected


async def test_ending_a_session_is_seen_by_every_worker(make_client, customer, probe_database):
    one, other = await make_client(), await make_client()
    assert (await other.get("/api/auth/user", headers=customer.headers)).status == 200  # cached in `other`
    assert len(other.app[SESSION_CACHE]) >= 1
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM sessions WHERE user_id = %s", (customer.id,))
    conn.close()

    async def refused() -> bool:
        return (await other.get("/api/auth/user", headers=customer.headers)).status == 401

    await eventually(refused)
    assert (await one.get("/api/auth/user", headers=customer.headers)).status == 401


async def test_a_role_change_is_seen_at_once(make_client, make_account, probe_database):
    client = await make_client()
    account = make_account("admin")
    assert (await client.get("/api/admin/inventory", headers=account.headers)).status == 200
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("UPDATE users SET role = 'user' WHERE id = %s", (account.id,))
    conn.close()

    async def demoted() -> bool:
        return (await client.get("/api/admin/inventory", headers=account.headers)).status == 403

    await eventually(demoted)


async def test_caches_are_bypassed_while_the_worker_cannot_listen(make_client, probe_database):
    client = await make_client()
    cache = client.app[RESPONSE_CACHE]
    await client.get("/api/categories")
    assert cache.get("categories") is not None
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:  # cut the worker's LISTEN connection
        cur.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'jaan listener'"
            " AND datname = current_database()"
        )
    conn.close()

    async def bypassed() -> bool:
        return not cache.live

    await eventually(bypassed)
    assert cache.get("categories") is None and len(cache) == 0

    async def back() -> bool:
        return cache.live

    await eventually(back)  # the listener reconnects by itself


async def test_a_new_order_reaches_every_workers_cached_order_list(make_client, admin, customer, probe_database):
    shop = Shop(probe_database)
    from tests.shop.orders.conftest import cart

    seller, reader = await make_client(), await make_client()

    async def newest_order_id() -> int:
        body = await (await reader.get("/api/orders", params={"per_page": "1"}, headers=admin.headers)).json()
        return body["data"]["data"][0]["id"] if body["data"]["data"] else 0

    await newest_order_id()  # cached in the reader now
    placed = await seller.post("/api/orders", json=cart((shop.product(stock=3), 1)), headers=customer.headers)
    order_id = (await placed.json())["data"]["order_id"]

    async def listed() -> bool:
        return await newest_order_id() == order_id

    await eventually(listed)
    mine = await (await seller.get("/api/orders", headers=customer.headers)).json()  # the seller forgot at once
    assert mine["data"]["data"][0]["id"] == order_id


async def test_caches_are_bypassed_while_the_listener_is_silent_and_rebuilt_after(make_client, probe_database):
    from tests.pg_proxy import pg_proxy

    with pg_proxy(probe_database) as proxy:
        client = await make_client(database_listen_url=proxy.dsn(), listen_probe_interval=0.2, listen_probe_timeout=1.0)
        responses, sessions = client.app[RESPONSE_CACHE], client.app[SESSION_CACHE]
        await eventually(lambda: responses.live and sessions.live)
        assert (await client.get("/api/categories")).status == 200
        assert len(responses) > 0
        proxy.go_silent()
        await eventually(lambda: not responses.live and not sessions.live)
        assert len(responses) == 0
        assert (await client.get("/api/categories")).status == 200  # answered from the database
        assert len(responses) == 0  # and not kept
        proxy.recover()
        await eventually(lambda: responses.live and sessions.live)
        assert (await client.get("/api/categories")).status == 200
        assert len(responses) > 0
        # Stopped while its proxy runs, so its listener leaves the listeners table (a later revocation
        # test would otherwise wait for a listener that is gone).
        await client.close()


async def test_a_late_proof_of_catching_up_pauses_the_caches_without_emptying_them(make_client, probe_database):
    """Issue 14: past the listener's deadline the response cache is bypassed, its entries kept; the next
    probe that comes back serves them again (before, a late probe emptied every cache of the worker)."""
    client = await make_client(listen_probe_interval=0.2, listen_probe_timeout=1.0)
    responses = client.app[RESPONSE_CACHE]
    await eventually(lambda: responses.trusted)
    assert (await client.get("/api/categories")).status == 200
    kept = dict(responses._entries)
    assert kept
    responses.trusted_until = time.monotonic() - 1  # as when the probe's echo is late
    assert all(responses.get(key) is None for key in kept)  # bypassed: notifications may be running late
    echoes = _catch_ups()
    await eventually(lambda: responses.trusted)  # the next echo vouches again
    assert _catch_ups() > echoes  # and its round trip is measured
    assert all(responses.get(key) is entry for key, entry in kept.items())  # the same entries, not rebuilt


def _catch_ups() -> float:
    """Echoes measured by jaan_listen_catch_up_seconds so far (this process)."""
    samples = [sample for metric in LISTEN_CATCH_UP.collect() for sample in metric.samples]
    return sum(sample.value for sample in samples if sample.name.endswith("_count"))
