"""A revocation answers once every live listener acknowledged it, or after the trust window."""

from __future__ import annotations

import asyncio
import time
import uuid

import psycopg2

from jaan.shop.accounts.revocation import REVOCATIONS
from jaan.shop.accounts.session_cache import SESSION_CACHE
from jaan.state import DATABASE


async def live(*clients) -> None:
    for _ in range(1000):
        if all(client.app[SESSION_CACHE].trusted for client in clients):
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the session caches never became trusted")


async def test_every_live_worker_acknowledges_before_the_answer(make_client):
    first, second = await make_client(), await make_client()  # two workers
    await live(first, second)
    database, revocations = first.app[DATABASE], first.app[REVOCATIONS]
    async with database.transaction() as cur:
        nonce = await revocations.announce(cur)
    assert await revocations.wait_for(database, nonce, trust_window=30.0) == set()  # nobody silent


async def test_a_silent_listener_is_waited_for_no_longer_than_the_trust_window(make_client, probe_database):
    client = await make_client()
    await live(client)
    silent = uuid.uuid4()
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO listeners (id) VALUES (%s)", (str(silent),))  # alive, but never answers
    conn.close()
    try:
        database, revocations = client.app[DATABASE], client.app[REVOCATIONS]
        async with database.transaction() as cur:
            nonce = await revocations.announce(cur)
        started = time.monotonic()
        assert await revocations.wait_for(database, nonce, trust_window=0.5) == {str(silent)}
        assert time.monotonic() - started >= 0.5  # it did wait (a stuck worker stops trusting by then)
    finally:
        with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM listeners WHERE id = %s", (str(silent),))
        conn.close()
