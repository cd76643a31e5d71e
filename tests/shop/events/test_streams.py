"""Live events over real sockets: WebSocket and SSE, admins and customers, resuming, closing."""

from __future__ import annotations

import aiohttp
import psycopg2
import pytest

from jaan.shop.events.feed import NOT_ALLOWED, SESSION_ENDED
from tests.shop.events.conftest import WAIT, WsReader, open_sse, until, ws_event
from tests.shop.orders.conftest import cart


async def checkout(client, account, product: int, quantity: int) -> int:
    response = await client.post("/api/orders", json=cart((product, quantity)), headers=account.headers)
    assert response.status == 200, await response.text()
    return int((await response.json())["data"]["order_id"])


async def move(client, admin, order_id: int, status: str) -> None:
    response = await client.put(f"/api/admin/orders/{order_id}/status", json={"status": status}, headers=admin.headers)
    assert response.status == 200, await response.text()


def of_order(order_id: int, kind: str):
    return lambda e: e["type"] == kind and e["data"]["order_id"] == order_id


async def test_admin_websocket_hears_the_checkout_and_the_last_unit_selling(make_client, admin, customer, shop):
    client = await make_client()
    product = shop.product(stock=2, price="3.25")
    async with client.ws_connect("/api/admin/events", headers=admin.headers) as ws:
        order_id = await checkout(client, customer, product, 2)
        read = lambda: ws_event(ws)  # noqa: E731
        created = await until(read, of_order(order_id, "order.created"))
        assert created["data"]["status"] == "pending" and created["data"]["subtotal"] == 6.5
        assert created["data"]["customer_id"] == str(customer.id) and created["at"].endswith("Z")
        out = await until(read, lambda e: e["type"] == "stock.out" and e["data"]["product_id"] == product)
        assert out["data"]["stock_quantity"] == 0 and out["data"]["to"] == "out_of_stock"
        assert out["id"] != created["id"]


async def test_admin_sse_hears_the_checkout_and_the_last_unit_selling(make_client, admin, customer, shop):
    client = await make_client()
    product = shop.product(stock=1)
    stream = await open_sse(client, "/api/admin/events", admin.headers)
    order_id = await checkout(client, customer, product, 1)
    created = await until(stream.event, of_order(order_id, "order.created"))
    out = await until(stream.event, lambda e: e["type"] == "stock.out" and e["data"]["product_id"] == product)
    assert created["data"]["order_number"].startswith("ORD-") and out["data"]["from"] == "low_stock"
    stream.response.close()


async def test_a_customer_hears_only_their_own_orders(make_client, admin, make_account, shop):
    client = await make_client()
    alice, bob = make_account("user"), make_account("user")
    product = shop.product(stock=10)
    alices, bobs = await checkout(client, alice, product, 1), await checkout(client, bob, product, 1)
    async with client.ws_connect("/api/events", headers=alice.headers) as ws:
        sse = await open_sse(client, "/api/events", alice.headers)
        await move(client, admin, bobs, "processing")
        await move(client, admin, alices, "processing")
        for read in (lambda: ws_event(ws), sse.event):
            event = await read()  # the very first: bob's change, before it, must not be there
            assert event["type"] == "order.status_changed"
            assert event["data"]["order_id"] == alices and event["data"]["to"] == "processing"
        # Shipping issues the invoice: the customer hears both, still nothing of bob's.
        await move(client, admin, bobs, "shipped")
        await move(client, admin, alices, "shipped")
        seen = [await ws_event(ws), await ws_event(ws)]
        assert {e["type"] for e in seen} == {"order.status_changed", "invoice.issued"}
        assert all(e["data"]["order_id"] == alices for e in seen)
        sse.response.close()


async def test_who_may_open_which_stream(make_client, customer):
    client = await make_client()
    for headers in ({}, {"Authorization": "Bearer " + "0" * 64}):
        response = await client.get("/api/admin/events", headers={**headers, "Accept": "text/event-stream"})
        assert response.status == 401
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect("/api/events", headers=headers)
        assert refused.value.status == 401
    response = await client.get("/api/admin/events", headers={**customer.headers, "Accept": "text/event-stream"})
    assert response.status == 403
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/api/admin/events", headers=customer.headers)
    assert refused.value.status == 403
    # Neither a WebSocket nor SSE, or a bad resume point: 400.
    assert (await client.get("/api/events", headers=customer.headers)).status == 400
    bad = await client.get(
        "/api/events", headers={**customer.headers, "Accept": "text/event-stream", "Last-Event-ID": "x"}
    )
    assert bad.status == 400
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/api/events?since=-1", headers=customer.headers)
    assert refused.value.status == 400


async def test_a_cookie_stream_from_a_foreign_page_is_refused(make_client, customer):
    client = await make_client()
    cookie = {"Cookie": f"session_token={customer.token}"}
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await client.ws_connect("/api/events", headers={**cookie, "Origin": "https://evil.example"})
    assert refused.value.status == 403
    own = str(client.make_url("")).rstrip("/")
    async with client.ws_connect("/api/events", headers={**cookie, "Origin": own}) as ws:
        assert not ws.closed


async def test_resuming_sse_gets_exactly_what_it_missed_then_live(make_client, admin, customer, shop):
    client = await make_client()
    first = await open_sse(client, "/api/events", customer.headers)
    product = shop.product(stock=10)
    orders = [await checkout(client, customer, product, 1) for _ in range(5)]
    await move(client, admin, orders[0], "processing")
    seen = await first.event()
    assert seen["data"]["order_id"] == orders[0]
    first.response.close()
    for order_id in orders[1:4]:  # three events while away
        await move(client, admin, order_id, "processing")
    resumed = await open_sse(client, "/api/events", customer.headers, **{"Last-Event-ID": str(seen["id"])})
    missed = [await resumed.event() for _ in range(3)]
    assert [e["data"]["order_id"] for e in missed] == orders[1:4]
    assert [e["id"] for e in missed] == sorted(e["id"] for e in missed) and missed[0]["id"] > seen["id"]
    await move(client, admin, orders[4], "processing")
    live = await resumed.event()
    assert live["data"]["order_id"] == orders[4] and live["id"] > missed[-1]["id"]
    with pytest.raises(TimeoutError):  # and nothing twice
        await resumed.event(within=0.5)
    resumed.response.close()


async def test_resuming_a_websocket_with_since(make_client, admin, customer, shop):
    client = await make_client()
    product = shop.product(stock=10)
    orders = [await checkout(client, customer, product, 1) for _ in range(3)]
    async with client.ws_connect("/api/events", headers=customer.headers) as ws:
        await move(client, admin, orders[0], "processing")
        seen = await ws_event(ws)
    await move(client, admin, orders[1], "processing")
    await move(client, admin, orders[2], "processing")
    async with client.ws_connect(f"/api/events?since={seen['id']}", headers=customer.headers) as ws:
        assert [(await ws_event(ws))["data"]["order_id"] for _ in range(2)] == orders[1:]


async def test_signing_out_closes_the_stream(make_client, customer):
    client = await make_client()
    async with client.ws_connect("/api/events", headers=customer.headers) as ws:
        sse = await open_sse(client, "/api/events", customer.headers)
        response = await client.post("/api/auth/signout", headers=customer.headers)
        assert response.status == 200
        message = await ws.receive(WAIT)
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == SESSION_ENDED
        assert (await sse.event())["close"]["code"] == SESSION_ENDED


async def test_a_demoted_admin_is_cut_off(make_client, make_account, probe_database):
    client = await make_client()
    demoted = make_account("admin")
    async with client.ws_connect("/api/admin/events", headers=demoted.headers) as ws:
        with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
            cur.execute("UPDATE users SET role = 'user' WHERE id = %s", (demoted.id,))
        conn.close()
        message = await ws.receive(WAIT)
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == NOT_ALLOWED


async def test_idle_streams_get_keep_alives_and_outlive_the_request_timeout(make_client, admin, customer, shop):
    client = await make_client(events_heartbeat=0.2, request_timeout=0.5)
    async with client.ws_connect("/api/admin/events", headers=admin.headers, autoping=False) as pinged:
        assert (await pinged.receive(WAIT)).type is aiohttp.WSMsgType.PING
    sse = await open_sse(client, "/api/admin/events", admin.headers)
    assert await sse.frame() == {"retry": "1000"}
    async with client.ws_connect("/api/admin/events", headers=admin.headers) as ws:
        reader = WsReader(ws)
        with pytest.raises(TimeoutError):
            await sse.frame(within=1.0)  # twice the request timeout: only keep-alive comments
        assert sse.comments >= 2 and reader.closed is None and reader.events.empty()
        order_id = await checkout(client, customer, shop.product(stock=5), 1)
        await until(sse.event, of_order(order_id, "order.created"))
        await until(reader.event, of_order(order_id, "order.created"))
        reader.task.cancel()
    sse.response.close()


async def test_the_openapi_document_describes_both_streams(make_client):
    client = await make_client()
    document = await (await client.get("/api/openapi.json")).json()
    assert "Event_order_status_changed" in document["components"]["schemas"]
    for path in ("/api/admin/events", "/api/events"):
        operation = document["paths"][path]["get"]
        assert "text/event-stream" in operation["responses"]["200"]["content"]
        assert {p["name"] for p in operation["parameters"]} >= {"since", "Last-Event-ID"}


async def test_a_stream_ends_when_its_session_expires(make_client, make_account, probe_database):
    client = await make_client(events_heartbeat=0.3)
    short = make_account("user")
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE sessions SET expires_at = now() + interval '2 seconds' WHERE user_id = %s", (str(short.id),)
        )
    conn.close()
    async with client.ws_connect("/api/events", headers=short.headers) as ws:
        message = await ws.receive(WAIT)
        assert message.type is aiohttp.WSMsgType.CLOSE and message.data == SESSION_ENDED
        assert message.extra == "session expired"
