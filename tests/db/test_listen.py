"""LISTEN/NOTIFY on a dedicated connection."""

from __future__ import annotations

import asyncio

import psycopg2

from jaan.db.listen import Listener, notify
from jaan.db.pool import Database, PoolConfig


async def test_notifications_reach_the_callback_only_after_commit(migrated_database):
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = Listener(migrated_database, {"catalogue_changed": received.put_nowait})
    database = Database(PoolConfig(migrated_database, min_size=1, max_size=2))
    await listener.start()
    await database.open()
    try:
        async with database.transaction() as cur:
            await notify(cur, "catalogue_changed", "product:7")
            await asyncio.sleep(0.2)
            assert received.empty()  # not before the commit
        assert await asyncio.wait_for(received.get(), 5) == "product:7"
    finally:
        await database.close()
        await listener.stop()


async def test_listener_reconnects_after_its_connection_is_killed(migrated_database):
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = Listener(migrated_database, {"settings_changed": received.put_nowait}, retry_delay=0.1)
    await listener.start()
    try:
        admin = psycopg2.connect(migrated_database)
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query = 'LISTEN \"settings_changed\"'"
            )
            listener.listening.clear()
            await asyncio.wait_for(listener.listening.wait(), 5)
            cur.execute("NOTIFY settings_changed, 'tax_rate'")
        admin.close()
        assert await asyncio.wait_for(received.get(), 5) == "tax_rate"
    finally:
        await listener.stop()
