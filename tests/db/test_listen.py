"""LISTEN/NOTIFY on a dedicated connection."""

from __future__ import annotations

import asyncio
import time

import psycopg2

from jaan.db.listen import Listener, notify
from jaan.db.pool import Database, PoolConfig
from tests.waiting import PATIENCE


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
        assert await asyncio.wait_for(received.get(), PATIENCE) == "product:7"
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
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'jaan listener' AND datname = current_database()"
            )
            listener.listening.clear()
            await asyncio.wait_for(listener.listening.wait(), PATIENCE)
            cur.execute("NOTIFY settings_changed, 'tax_rate'")
        admin.close()
        assert await asyncio.wait_for(received.get(), PATIENCE) == "tax_rate"
    finally:
        await listener.stop()


async def test_an_unexpected_error_while_connecting_does_not_end_the_listener(migrated_database, monkeypatch):
    failures: list[int] = []
    real_listen_once = Listener._listen_once

    async def fails_once(self: Listener) -> None:
        if not failures:
            failures.append(1)
            raise RuntimeError("a closed handle on a reused descriptor")  # as aiopg on uvloop can
        await real_listen_once(self)

    monkeypatch.setattr(Listener, "_listen_once", fails_once)
    received: asyncio.Queue[str] = asyncio.Queue()
    listener = Listener(migrated_database, {"settings_changed": received.put_nowait}, retry_delay=0.1)
    await listener.start(ready_within=0.01)
    try:
        await asyncio.wait_for(listener.listening.wait(), PATIENCE)
        assert failures == [1]
    finally:
        await listener.stop()


async def wait_for(condition, what: str, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within}s: {what}")
        await asyncio.sleep(0.02)


async def test_a_silently_dead_connection_is_noticed_and_replaced(migrated_database):
    """The network drops the listener's packets without a reset: its own probe notices within seconds."""
    from tests.pg_proxy import pg_proxy

    states: list[bool] = []
    received: asyncio.Queue[str] = asyncio.Queue()
    with pg_proxy(migrated_database) as proxy:
        listener = Listener(
            proxy.dsn(),
            {"settings_changed": received.put_nowait},
            retry_delay=0.1,
            on_state=states.append,
            probe_interval=0.2,
            probe_timeout=1.0,
        )
        await listener.start()
        try:
            assert states == [True]
            await asyncio.sleep(0.5)  # probes come and go: still listening
            assert states == [True]
            proxy.go_silent()
            await wait_for(lambda: states[-1] is False, "the silent connection noticed")
            await asyncio.sleep(1.5)  # reconnecting cannot succeed while the network is silent
            assert states[-1] is False
            proxy.recover()
            await wait_for(lambda: states[-1] is True, "listening again once the network is back")
            admin = psycopg2.connect(migrated_database)
            admin.autocommit = True
            with admin.cursor() as cur:
                cur.execute("SELECT pg_notify('settings_changed', 'after')")
            admin.close()
            assert await asyncio.wait_for(received.get(), 10) == "after"
        finally:
            await listener.stop()


class BusyLoop:
    """Tasks that each hold the event loop a few milliseconds per turn, as a worker under load does
    (sleeping, not spinning: the machine's CPUs stay free)."""

    def __init__(self, tasks: int = 10, hold: float = 0.005) -> None:
        self._hold = hold
        self._stopped = False
        self._tasks = [asyncio.create_task(self._turns()) for _ in range(tasks)]

    async def _turns(self) -> None:
        while not self._stopped:
            time.sleep(self._hold)  # noqa: ASYNC251 - holding the loop is the point
            await asyncio.sleep(0)

    async def stop(self) -> None:
        self._stopped = True
        await asyncio.gather(*self._tasks)


def flood(dsn: str, channel: str, transactions: int, per_transaction: int, pause: float) -> None:
    """Another client's stream of notifications: `transactions` commits of `per_transaction` each."""
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for batch in range(transactions):
                cur.execute(
                    "SELECT count(pg_notify(%s, %s || ':' || g)) FROM generate_series(1, %s) g",
                    (channel, batch, per_transaction),
                )
                time.sleep(pause)
    finally:
        conn.close()


async def test_a_connection_busy_delivering_notifications_to_a_busy_worker_stays_up(migrated_database):
    """An order storm on a loaded worker: thousands of notifications queue ahead of the probe's echo.
    The connection keeps delivering, so it is not declared dead (no reconnect, no caches lost), and
    once the backlog is through the probes vouch for the caches again."""
    states: list[bool] = []
    deadlines: list[float] = []
    heard: list[str] = []
    listener = Listener(
        migrated_database,
        {"storm": heard.append},
        retry_delay=0.1,
        on_state=states.append,
        on_alive=deadlines.append,
        probe_interval=0.2,
        probe_timeout=3.0,  # the default: today's echo comes minutes late
    )
    await listener.start()
    busy = BusyLoop()
    try:
        assert states == [True]
        sent = 40 * 250
        await asyncio.to_thread(flood, migrated_database, "storm", 40, 250, 0.05)
        await wait_for(lambda: len(heard) == sent, "every notification handled", within=PATIENCE)
        proofs = len(deadlines)
        await wait_for(lambda: len(deadlines) > proofs, "a probe came back after the storm", within=PATIENCE)
        assert states == [True]  # never presumed dead
    finally:
        await busy.stop()
        await listener.stop()


async def test_notifications_keep_a_connection_alive_but_only_its_echo_vouches_for_the_caches(
    migrated_database, monkeypatch
):
    """A probe whose echo never comes: while notifications keep arriving the connection is kept and
    the caches' deadline does not move; once they stop, it is found silent and replaced."""
    import jaan.db.listen

    monkeypatch.setattr(jaan.db.listen, "_PROBE", "SELECT %s::text, %s, %s")  # answers, never echoes
    states: list[bool] = []
    deadlines: list[float] = []
    heard: list[str] = []
    listener = Listener(
        migrated_database,
        {"storm": heard.append},
        retry_delay=0.1,
        on_state=states.append,
        on_alive=deadlines.append,
        probe_interval=0.2,
        probe_timeout=2.0,
    )
    await listener.start()
    try:
        assert states == [True] and len(deadlines) == 1  # registered: vouched for once
        await asyncio.to_thread(flood, migrated_database, "storm", 80, 5, 0.05)  # 4 s, twice the timeout
        await wait_for(lambda: len(heard) == 400, "every notification handled")
        assert states == [True]  # alive all along: it kept delivering
        assert len(deadlines) == 1  # but never vouched for again: no echo came
        await wait_for(lambda: states[-1] is False, "the connection found silent once the storm is over")
    finally:
        await listener.stop()
