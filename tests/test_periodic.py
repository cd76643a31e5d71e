"""Periodic jobs run by one process at a time, under a PostgreSQL advisory lock."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from contextlib import closing

import psycopg2
import pytest
from aiohttp import web

from jaan.db.pool import Database, PoolConfig
from jaan.periodic import PeriodicJob, PeriodicRunner, lock_key, periodic_jobs_ctx, run_once
from jaan.shop.accounts.routes import housekeeping_jobs
from jaan.state import DATABASE
from tests.conftest import settings_for_tests
from tests.waiting import eventually


async def open_database(dsn: str) -> Database:
    database = Database(PoolConfig(dsn=dsn, min_size=1, max_size=2))
    await database.open()
    return database


@pytest.fixture
async def databases(probe_database):
    """Two pools of their own, as two workers (or hosts) have."""
    first, second = await open_database(probe_database), await open_database(probe_database)
    yield first, second
    await first.close()
    await second.close()


def query(dsn, sql, params=None):
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def slow_job(runs: list[str], name: str, interval: float = 60.0) -> PeriodicJob:
    async def work(cur) -> None:
        runs.append(name)
        await asyncio.sleep(0.3)  # holding the lock while the other runner tries

    return PeriodicJob(name, interval, work)


async def test_two_workers_at_once_run_the_job_once(databases):
    runs: list[str] = []
    job = slow_job(runs, f"test job {uuid.uuid4()}")
    ran = await asyncio.gather(run_once(databases[0], job), run_once(databases[1], job))
    assert sorted(ran) == [False, True]
    assert len(runs) == 1


async def test_the_lock_is_freed_with_the_transaction(databases):
    runs: list[str] = []
    job = slow_job(runs, f"test job {uuid.uuid4()}")
    assert await run_once(databases[0], job)
    assert await run_once(databases[1], job)
    assert len(runs) == 2


async def test_different_jobs_do_not_block_each_other(databases):
    runs: list[str] = []
    one, other = slow_job(runs, f"one {uuid.uuid4()}"), slow_job(runs, f"other {uuid.uuid4()}")
    assert list(await asyncio.gather(run_once(databases[0], one), run_once(databases[1], other))) == [True, True]


def test_lock_keys_are_stable_signed_64_bit_and_distinct():
    assert lock_key("purge expired sessions") == lock_key("purge expired sessions")
    assert lock_key("purge expired sessions") != lock_key("forget stale sign-in failures")
    assert -(2**63) <= lock_key("anything") < 2**63


async def test_two_runners_tick_together_but_the_work_is_done_once_at_a_time(databases):
    running, overlaps, runs = 0, 0, []

    async def work(cur) -> None:
        nonlocal running, overlaps
        running += 1
        overlaps += running > 1
        runs.append(1)
        await asyncio.sleep(0.3)  # holding the lock while the other runner wakes and tries
        running -= 1

    job = PeriodicJob(f"test job {uuid.uuid4()}", 0.2, work)
    runners = [PeriodicRunner(database, [job], jitter=0) for database in databases]
    for runner in runners:
        runner.start()
    await eventually(lambda: len(runs) >= 4)
    for runner in runners:
        await runner.stop()
    assert overlaps == 0


async def test_a_failing_job_is_retried_at_the_next_tick(databases):
    attempts: list[int] = []

    async def flaky(cur) -> None:
        attempts.append(1)
        if len(attempts) == 1:
            await cur.execute("SELECT no_such_column FROM users")

    runner = PeriodicRunner(databases[0], [PeriodicJob(f"flaky {uuid.uuid4()}", 0.1, flaky)], jitter=0)
    runner.start()
    await eventually(lambda: len(attempts) >= 2)
    await runner.stop()


async def test_the_cleanup_context_runs_the_jobs_while_the_app_runs(databases):
    runs: list[str] = []

    async def work(cur) -> None:
        runs.append("ran")

    app = web.Application()
    app[DATABASE] = databases[0]
    context = periodic_jobs_ctx([PeriodicJob(f"ctx {uuid.uuid4()}", 0.05, work)])(app)
    await anext(context)
    await eventually(lambda: len(runs) >= 2)
    with pytest.raises(StopAsyncIteration):
        await anext(context)
    count = len(runs)
    await asyncio.sleep(0.2)
    assert len(runs) == count  # stopped with the app


async def test_stop_returns_and_nothing_runs_after_it_even_when_a_job_swallows_its_cancellation(databases, caplog):
    # Python 3.11's asyncio.wait_for, which aiopg awaits every query with, returns the query's
    # result instead of raising when the cancellation arrives as the query completes: on a busy
    # machine a stopping runner's job went on, stop() waited for ever, and the job outlived the pool.
    started, runs = asyncio.Event(), []

    async def swallows_cancellation(cur) -> None:
        runs.append(1)
        started.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(30)

    runner = PeriodicRunner(databases[0], [PeriodicJob(f"stubborn {uuid.uuid4()}", 0.01, swallows_cancellation)])
    runner.start()
    await asyncio.wait_for(started.wait(), 30)
    await asyncio.wait_for(runner.stop(), 30)
    count = len(runs)
    await databases[0].close()
    await asyncio.sleep(0.1)
    assert len(runs) == count == 1
    assert "failed" not in caplog.text


async def test_housekeeping_purges_expired_sessions_and_stale_failures(databases, make_account, probe_database):
    expired, live = make_account(), make_account()
    query(
        probe_database, "UPDATE sessions SET expires_at = now() - interval '1 minute' WHERE user_id = %s", (expired.id,)
    )
    stale_key, fresh_key = f"stale-{uuid.uuid4()}", f"fresh-{uuid.uuid4()}"
    query(
        probe_database,
        "INSERT INTO signin_failures (scope, key, failures, window_started_at)"
        " VALUES ('address', %s, 3, now() - interval '1 day'), ('address', %s, 3, now())",
        (stale_key, fresh_key),
    )

    for job in housekeeping_jobs(settings_for_tests(probe_database)):
        assert await run_once(databases[0], job)

    assert query(probe_database, "SELECT count(*) FROM sessions WHERE user_id = %s", (expired.id,)) == [(0,)]
    assert query(probe_database, "SELECT count(*) FROM sessions WHERE user_id = %s", (live.id,)) == [(1,)]
    keys = query(probe_database, "SELECT key FROM signin_failures WHERE key IN (%s, %s)", (stale_key, fresh_key))
    assert keys == [(fresh_key,)]
