"""The aiopg layer: statement timeouts, an exhausted pool, transactions and connection hygiene."""

from __future__ import annotations

import asyncio
import socket
import uuid

import psycopg2
import pytest

from jaan.db.errors import DatabaseBusy, DatabaseUnavailable, StatementTimeout
from jaan.db.pool import Database, PoolConfig
from tests.probes import sleeping_statements
from tests.waiting import eventually


@pytest.fixture
async def database(probe_database):
    db = Database(PoolConfig(probe_database, min_size=1, max_size=2, connect_timeout=0.5, statement_timeout=0.5))
    await db.open()
    yield db
    await db.close()


async def test_statement_timeout_is_an_error_not_a_cancellation(database):
    with pytest.raises(StatementTimeout):
        await database.fetch_value("SELECT pg_sleep(5)")
    # The task was not cancelled: it goes on and the pool still serves.
    assert await database.fetch_value("SELECT 1 AS one") == 1


async def test_statement_timeout_over_http_is_503_json(make_client):
    client = await make_client(statement_timeout=0.3, request_timeout=60)
    response = await client.get("/probe/sql-sleep", params={"seconds": "5"})  # uncut, it would answer 200
    assert response.status == 503
    assert await response.json() == {"success": False, "error": "Database statement timed out"}


async def test_handler_can_carry_on_after_a_statement_timeout(make_client):
    client = await make_client(statement_timeout=0.3, request_timeout=10)
    response = await client.get("/probe/timeout-then-continue")
    assert response.status == 200
    assert await response.json() == {"success": True, "data": {"after": 42}}


async def test_exhausted_pool_answers_503_service_busy_without_waiting_for_a_connection(make_client, probe_database):
    client = await make_client(pool_min=1, pool_max=1, connect_timeout=0.3, request_timeout=60)
    holder = asyncio.create_task(client.get("/probe/sql-sleep", params={"seconds": "6"}))
    await eventually(lambda: sleeping_statements(probe_database) == 1)  # the holder has the only connection
    response = await client.get("/api/health/ready")
    assert response.status == 503
    assert await response.json() == {"success": False, "error": "Service busy"}
    assert response.headers["Retry-After"] == "1"
    assert not holder.done()  # answered after connect_timeout, not once the connection came free
    assert (await holder).status == 200


async def test_long_query_is_not_cut_by_the_acquire_timeout(probe_database):
    db = Database(PoolConfig(probe_database, min_size=1, max_size=1, connect_timeout=0.2, statement_timeout=5))
    await db.open()
    try:
        assert await db.fetch_value("SELECT 'done' FROM pg_sleep(0.6)") == "done"
    finally:
        await db.close()


async def test_transaction_commits_when_the_block_ends(database, probe_database):
    note = uuid.uuid4().hex
    async with database.transaction() as cur:
        await cur.execute("INSERT INTO probe_writes (note) VALUES (%s)", (note,))
        await cur.execute("INSERT INTO probe_writes (note) VALUES (%s)", (note,))
    assert await database.fetch_value("SELECT count(*) FROM probe_writes WHERE note = %s", (note,)) == 2


async def test_transaction_rolls_back_every_step_on_error(database):
    note = uuid.uuid4().hex
    with pytest.raises(psycopg2.errors.NotNullViolation):
        async with database.transaction() as cur:
            await cur.execute("INSERT INTO probe_writes (note) VALUES (%s)", (note,))
            await cur.execute("INSERT INTO probe_writes (note) VALUES (NULL)")
    assert await database.fetch_value("SELECT count(*) FROM probe_writes WHERE note = %s", (note,)) == 0


async def test_connection_goes_back_to_the_pool_idle(database):
    with pytest.raises(RuntimeError):
        async with database.transaction() as cur:
            await cur.execute("INSERT INTO probe_writes (note) VALUES ('x')")
            raise RuntimeError("handler bug mid-transaction")
    async with database.connection() as conn:
        assert conn.raw.get_transaction_status() == psycopg2.extensions.TRANSACTION_STATUS_IDLE


async def test_cancelled_transaction_leaves_nothing_and_pool_recovers(database):
    note = uuid.uuid4().hex

    async def slow_write() -> None:
        async with database.transaction() as cur:
            await cur.execute("INSERT INTO probe_writes (note) VALUES (%s)", (note,))
            await cur.execute("SELECT pg_sleep(0.4)")

    task = asyncio.create_task(slow_write())
    await asyncio.sleep(0.15)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await database.fetch_value("SELECT count(*) FROM probe_writes WHERE note = %s", (note,)) == 0


async def test_busy_pool_raises_database_busy(database):
    release = asyncio.Event()

    async def hold() -> None:
        async with database.connection():
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(2)]
    await eventually(lambda: database.stats()["size"] == 2 and database.stats()["free"] == 0)
    with pytest.raises(DatabaseBusy):
        await database.fetch_value("SELECT 1")
    assert database.stats()["waiting"] == 0
    release.set()
    await asyncio.gather(*holders)


async def test_sessions_use_utc_and_bounded_waits(database):
    async with database.cursor() as cur:
        assert await cur.fetch_value("SHOW TIME ZONE") == "UTC"
        assert await cur.fetch_value("SHOW lock_timeout") == "5s"
        assert await cur.fetch_value("SHOW client_connection_check_interval") == "1s"


async def test_settings_hold_in_every_statement_but_never_outlive_it(probe_database):
    """PgBouncer-safe: our timeouts apply to each transaction, and the session itself keeps none."""
    db = Database(PoolConfig(probe_database, min_size=1, max_size=1, statement_timeout=0.7, lock_timeout=0.3))
    await db.open()
    try:
        settings = (
            "SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt,"
            " current_setting('TimeZone') AS tz"
        )
        assert await db.fetch_one(settings) == {"st": "700ms", "lt": "300ms", "tz": "UTC"}
        async with db.transaction() as cur:
            await cur.execute("SELECT 1")
            assert await cur.fetch_one(settings) == {"st": "700ms", "lt": "300ms", "tz": "UTC"}
        # The one pooled connection, asked in a transaction of its own without our prelude.
        async with db.connection() as conn, conn.cursor() as raw:
            await raw.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            assert await raw.fetchone() == ("0", "0")
        with pytest.raises(StatementTimeout):
            await db.fetch_value("SELECT pg_sleep(3)")
    finally:
        await db.close()


async def test_a_server_that_is_gone_fails_the_acquire_at_once(tmp_path):
    # What a worker meets while the embedded postmaster is down: no socket to connect to.
    db = Database(PoolConfig(f"host={tmp_path} port=5432 dbname=jaan user=jaan", min_size=0, max_size=2))
    await db.open()
    try:
        for _ in range(3):
            with pytest.raises(DatabaseUnavailable):
                await db.fetch_value("SELECT 1")
    finally:
        await db.close()


async def test_a_server_that_never_answers_is_busy_after_the_connect_timeout_not_a_hang():
    # A hung server (stopped, or a black hole) accepts the TCP connection and says nothing.
    silent = socket.create_server(("127.0.0.1", 0))
    port = silent.getsockname()[1]
    db = Database(
        PoolConfig(f"host=127.0.0.1 port={port} dbname=jaan user=jaan", min_size=0, max_size=2, connect_timeout=0.3)
    )
    await db.open()
    try:
        async with asyncio.timeout(10):  # the guard of this test, far above the connect timeout
            with pytest.raises(DatabaseBusy):
                await db.fetch_value("SELECT 1")
    finally:
        await db.close()
        silent.close()
