"""Event streams under bin/serve: a reload closes them with 1012, clients resume losing nothing;
bin/serve status counts the subscribers."""

from __future__ import annotations

import asyncio
import signal
import threading
import uuid
from contextlib import closing
from typing import Any

import aiohttp
import psycopg2

from jaan.shop.accounts.sessions import hash_token, new_token
from jaan.shop.events.feed import SERVICE_RESTART
from tests.shop.events.conftest import WAIT, SseReader

INQUIRY = (
    "INSERT INTO contact_submissions (full_name, company_name, business_email, phone_number, message)"
    " VALUES ('Reload Test', %s, 'r@example.com', '555-0100', 'Sent while the service reloads.')"
)


def admin_token(dsn: str) -> str:
    token = new_token()
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (email, password_hash, full_name, role) VALUES (%s, 'x', 'Ops', 'admin') RETURNING id",
            (f"ops-{uuid.uuid4().hex[:8]}@example.com",),
        )
        (user_id,) = cur.fetchone()
        cur.execute(
            "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
            (user_id, hash_token(token)),
        )
    return token


def inquire(dsn: str, company: str) -> None:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(INQUIRY, (company,))


async def collect_ws(session, url, headers, seen: list[int], closes: list[Any], done: asyncio.Event) -> None:
    """Follow the stream like a client: on a close, reconnect with ?since=<last id>, until `done`."""
    while not done.is_set():
        since = f"?since={seen[-1]}" if seen else ""
        try:
            async with session.ws_connect(url + since, headers=headers) as ws:
                async for message in ws:
                    if message.type is aiohttp.WSMsgType.TEXT:
                        seen.append(message.json()["id"])
                closes.append(ws.close_code)
        except (aiohttp.ClientError, OSError):
            await asyncio.sleep(0.1)  # the old worker refused it mid-drain: again


async def collect_sse(session, url, headers, seen: list[int], closes: list[Any], done: asyncio.Event) -> None:
    while not done.is_set():
        resume = {"Last-Event-ID": str(seen[-1])} if seen else {}
        try:
            async with session.get(url, headers={**headers, **resume, "Accept": "text/event-stream"}) as response:
                if response.status != 200:
                    await asyncio.sleep(0.1)
                    continue
                reader = SseReader(response)
                while True:
                    event = await reader.event(within=60)
                    if "close" in event:
                        closes.append(event["close"]["code"])
                        break
                    seen.append(event["id"])
        except (aiohttp.ClientError, OSError, EOFError):
            await asyncio.sleep(0.1)


async def test_a_reload_closes_streams_with_1012_and_clients_resume_losing_nothing(serve, shop_database):
    service = serve("--workers", "2", "--events-heartbeat", "1")
    url = f"http://127.0.0.1:{service.port}/api/admin/events"
    headers = {"Authorization": f"Bearer {admin_token(shop_database)}"}
    ws_seen: list[int] = []
    sse_seen: list[int] = []
    ws_closes: list[Any] = []
    sse_closes: list[Any] = []
    done = asyncio.Event()
    async with aiohttp.ClientSession() as session:
        followers = [
            asyncio.create_task(collect_ws(session, url, headers, ws_seen, ws_closes, done)),
            asyncio.create_task(collect_sse(session, url, headers, sse_seen, sse_closes, done)),
        ]
        await asyncio.to_thread(inquire, shop_database, "before")
        async with asyncio.timeout(WAIT):
            while not (ws_seen and sse_seen):  # noqa: ASYNC110 (the followers append as they read)
                await asyncio.sleep(0.05)
        await asyncio.to_thread(
            service.wait_until, lambda s: sum(sum(w["subscribers"].values()) for w in s["workers"]) == 2
        )
        # Inquiries keep arriving through the reload.
        stop_writing = threading.Event()

        def keep_inquiring() -> None:
            while not stop_writing.is_set():
                inquire(shop_database, "during")
                stop_writing.wait(0.05)

        writer = threading.Thread(target=keep_inquiring)
        writer.start()
        try:
            service.signal(signal.SIGHUP)
            await asyncio.to_thread(service.wait_until, lambda s: s["master"]["reload"]["state"] == "done", timeout=60)
        finally:
            stop_writing.set()
            writer.join()
        await asyncio.to_thread(inquire, shop_database, "after")
        with closing(psycopg2.connect(shop_database)) as conn, conn, conn.cursor() as cur:
            cur.execute("SELECT id FROM events WHERE type = 'contact.received' ORDER BY id")
            expected = [row[0] for row in cur.fetchall()]
        async with asyncio.timeout(30):
            while ws_seen[-1:] != expected[-1:] or sse_seen[-1:] != expected[-1:]:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        done.set()
        for task in followers:
            task.cancel()
        await asyncio.gather(*followers, return_exceptions=True)
    assert SERVICE_RESTART in ws_closes and SERVICE_RESTART in sse_closes
    assert ws_seen == expected  # every event, once, in order, across the reconnects
    assert sse_seen == expected
    assert len(expected) > 3


def test_status_counts_no_subscribers_when_none_are_open(serve):
    service = serve("--workers", "1")
    [worker] = service.status()["workers"]
    assert worker["subscribers"] == {"admin": 0, "customer": 0}
