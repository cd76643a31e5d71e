"""Read replicas: catalogue and list reads that may go to a streaming replica, never staler than a change.

Each worker keeps a small pool per replica (``DATABASE_REPLICA_URL``, comma-separated) and checks
every replica twice a second: its replay position against positions the primary had, which gives
its lag in seconds (:meth:`ReadReplicas.lag`), exported after every check as the gauges
``jaan_replica_lag_seconds`` and ``jaan_replica_in_use`` labelled ``host:port``.  A replica that does
not answer, or lags more than ``replica_max_lag``, is skipped until it catches up.

Freshness.  Every change the caches hear of (a NOTIFY, or a write by this worker) makes the
worker read the primary's WAL position: a notification is delivered only after its commit, so that
position is at or past the change.  A read for a cache rebuild then uses a replica only once the
replica has replayed past the newest such position, waiting up to ``replica_wait`` for it, and
otherwise reads the primary.  A change heard while that position is still being read makes reads
wait for it.  So an entry rebuilt after a change is never older than the change, and a user who
just wrote reads what they wrote.  While the worker is not listening (its LISTEN connection is
down) it cannot hear changes, and reads go to the primary.

A replica failing mid-read (gone, or a query cancelled by a replay conflict) is marked down and
the read is done again on the primary: the client sees no error.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg2
from psycopg2.extensions import parse_dsn

from jaan.db.errors import DatabaseBusy, DatabaseUnavailable, StatementTimeout
from jaan.db.pool import Cursor, Database, PoolConfig
from jaan.metrics import REPLICA_IN_USE, REPLICA_LAG

log = logging.getLogger(__name__)

T = TypeVar("T")
CHECK_INTERVAL = 0.5  # seconds between two checks of every replica
POLL_INTERVAL = 0.01  # seconds between two looks at a replica's replay position while waiting
UNKNOWN_LSN = 1 << 64  # required when the primary's position could not be read: no replica qualifies
# RuntimeError: aiopg on uvloop, connecting to a server that just went away, may add a reader
# on a socket already closed ("the handler is closed").
_REPLICA_ERRORS = (psycopg2.Error, OSError, RuntimeError, DatabaseBusy, DatabaseUnavailable, StatementTimeout)


def replica_label(dsn: str) -> str:
    """``host:port`` of a replica's URL or DSN: its label in the metrics (bounded, no credentials)."""
    try:
        parts = parse_dsn(dsn)
    except psycopg2.ProgrammingError:
        return "unknown"
    return f"{parts.get('host') or 'localhost'}:{parts.get('port') or 5432}"


def lsn_value(text: str | None) -> int:
    """A pg_lsn as text ('16/B374D848') as a number, 0 for none."""
    if not text:
        return 0
    high, _, low = text.partition("/")
    return (int(high, 16) << 32) + int(low, 16)


@dataclass
class Replica:
    name: str  # its URL without the password: for logs and metrics
    dsn: str
    database: Database
    # The health check's own blocking connection, used from a thread: aiopg on uvloop, failing to
    # connect to a server that refuses, leaves a closed handle on the socket's fd number, which breaks
    # the next connection given that number (the listener's, the primary pool's).  A replica that is
    # down is retried only here, never through the event loop.
    probe: Any = None
    probing: bool = False
    replayed: int = 0  # replay position at the last check
    lag: float | None = None  # seconds behind the primary at the last check; None: not answering
    checked_at: float = 0.0  # when it last answered a check (or when watching began)
    last_lag: float = 0.0  # the lag it had then

    @functools.cached_property
    def label(self) -> str:
        return replica_label(self.dsn)

    def lag_seen(self, now: float) -> float:
        """Its lag for the metric: measured, or while it does not answer, the last one plus the time since."""
        return self.lag if self.lag is not None else self.last_lag + max(0.0, now - self.checked_at)

    def usable(self, max_lag: float) -> bool:
        fresh = time.monotonic() - self.checked_at < 4 * CHECK_INTERVAL
        return fresh and self.lag is not None and self.lag <= max_lag


@dataclass
class ReadReplicas:
    primary: Database
    replicas: list[Replica]
    max_lag: float
    wait: float
    live: bool = False  # set by the change listener: changes are heard only while it listens
    _required: int = UNKNOWN_LSN
    _reading: asyncio.Task[None] | None = None
    _again: bool = False
    _turn: int = 0
    _samples: collections.deque[tuple[float, int]] = field(default_factory=lambda: collections.deque(maxlen=240))
    _monitor: asyncio.Task[None] | None = None

    @classmethod
    def from_urls(
        cls, primary: Database, urls: Sequence[str], config: PoolConfig, max_lag: float, wait: float
    ) -> ReadReplicas:
        from jaan.settings import redact_url

        replicas = [
            Replica(redact_url(url), url, Database(PoolConfig(**{**config.__dict__, "dsn": url, "min_size": 0})))
            for url in urls
        ]
        return cls(primary, replicas, max_lag, wait)

    # -- lifecycle -----------------------------------------------------------------------------

    async def open(self) -> None:
        for replica in self.replicas:
            await replica.database.open()
            replica.checked_at = time.monotonic()
        self.changed()
        self._monitor = asyncio.create_task(self._watch(), name="replica monitor")

    async def close(self) -> None:
        for task in (self._monitor, self._reading):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, *_REPLICA_ERRORS):
                    await task
        for replica in self.replicas:
            await replica.database.close()
            if replica.probe is not None:
                replica.probe.close()

    def lag(self) -> dict[str, float | None]:
        """Seconds each replica is behind the primary (None: not answering): the replication-lag metric."""
        return {replica.name: replica.lag for replica in self.replicas}

    # -- hearing of changes --------------------------------------------------------------------

    def changed(self) -> None:
        """Something changed (a notification, or this worker's write): reads wait for the primary's
        position, read from now on."""
        if self._reading is not None and not self._reading.done():
            self._again = True  # the read in flight may predate this change: read once more after it
            return
        self._reading = asyncio.create_task(self._read_primary_position())

    async def _read_primary_position(self) -> None:
        while True:
            self._again = False
            try:
                position = lsn_value(await self.primary.fetch_value("SELECT pg_current_wal_lsn()::text"))
            except _REPLICA_ERRORS as exc:
                log.warning("cannot read the primary's WAL position (%s): reading from the primary", exc)
                self._required = UNKNOWN_LSN
            else:
                if self._required == UNKNOWN_LSN or position > self._required:
                    self._required = position
                self._samples.append((time.monotonic(), position))
            if not self._again:
                return

    async def required_position(self) -> int:
        while self._reading is not None and not self._reading.done():
            await asyncio.shield(self._reading)
        return self._required

    # -- reading -------------------------------------------------------------------------------

    async def read(self, work: Callable[[Cursor], Awaitable[T]]) -> T:
        """`work` on a replica that has replayed every change heard of, else on the primary."""
        replica = await self._choose()
        if replica is not None:
            try:
                async with replica.database.cursor() as cur:
                    return await work(cur)
            except _REPLICA_ERRORS as exc:
                replica.lag = None  # skipped until the next check finds it well
                log.warning("replica %s failed a read (%s); reading from the primary", replica.name, exc)
        async with self.primary.cursor() as cur:
            return await work(cur)

    async def _choose(self) -> Replica | None:
        if not self.live:
            return None
        usable = [replica for replica in self.replicas if replica.usable(self.max_lag)]
        if not usable:
            return None
        required = await self.required_position()
        if required == UNKNOWN_LSN:
            return None
        self._turn += 1
        usable = usable[self._turn % len(usable) :] + usable[: self._turn % len(usable)]
        for replica in usable:
            if replica.replayed >= required:
                return replica
        replica = max(usable, key=lambda r: r.replayed)  # the nearest: wait for it a little
        deadline = time.monotonic() + self.wait
        with contextlib.suppress(*_REPLICA_ERRORS):
            while time.monotonic() < deadline:
                await asyncio.sleep(POLL_INTERVAL)
                replica.replayed = max(replica.replayed, await self._replayed(replica))
                if replica.replayed >= required:
                    return replica
        return None

    @staticmethod
    async def _replayed(replica: Replica) -> int:
        return lsn_value(await replica.database.fetch_value("SELECT pg_last_wal_replay_lsn()::text"))

    # -- watching ------------------------------------------------------------------------------

    async def _watch(self) -> None:
        while True:
            try:
                position = lsn_value(await self.primary.fetch_value("SELECT pg_current_wal_lsn()::text"))
                self._samples.append((time.monotonic(), position))
            except _REPLICA_ERRORS:
                pass  # the primary away: the replicas' lag cannot be told this time
            try:
                await asyncio.gather(*(self._check(replica) for replica in self.replicas))
            except Exception:  # the monitor must outlive whatever one check meets
                log.exception("checking the replicas failed")
            self.export()
            await asyncio.sleep(CHECK_INTERVAL)

    def export(self) -> None:
        """The replicas' lag and whether reads may go to them, as this worker's gauges."""
        now = time.monotonic()
        for replica in self.replicas:
            REPLICA_LAG.labels(replica.label).set(round(replica.lag_seen(now), 3))
            REPLICA_IN_USE.labels(replica.label).set(1 if replica.usable(self.max_lag) else 0)

    async def _check(self, replica: Replica) -> None:
        if replica.probing:  # the last check's thread is still stuck: this one counts as failed
            replica.lag = None
            return
        replica.probing = True
        try:
            async with asyncio.timeout(2 * CHECK_INTERVAL):
                replayed = await asyncio.to_thread(_probe_replayed, replica)
        except (*_REPLICA_ERRORS, TimeoutError) as exc:
            if replica.lag is not None:
                log.warning("replica %s is not answering (%s): reads go elsewhere", replica.name, exc)
            replica.lag = None
            return
        now = time.monotonic()
        replica.replayed = replayed
        # Lag: how long ago the primary first had a position the replica has not replayed yet.
        behind_since = next((at for at, position in self._samples if position > replayed), None)
        lag = 0.0 if behind_since is None else now - behind_since
        if replica.lag is not None and replica.lag <= self.max_lag < lag:
            log.warning("replica %s lags %.1f s: reads go elsewhere until it catches up", replica.name, lag)
        replica.lag, replica.last_lag, replica.checked_at = lag, lag, now


def _probe_replayed(replica: Replica) -> int:
    """The replica's replay position, on the health check's own connection (in a thread)."""
    try:
        return _replayed_on_probe(replica)
    finally:
        replica.probing = False  # here, not in the awaiting task: a timed-out await leaves the thread running


def _replayed_on_probe(replica: Replica) -> int:
    try:
        if replica.probe is None or replica.probe.closed:
            replica.probe = psycopg2.connect(replica.dsn, connect_timeout=2)
            replica.probe.autocommit = True
        with replica.probe.cursor() as cur:
            cur.execute("SELECT pg_last_wal_replay_lsn()::text")
            row = cur.fetchone()
    except psycopg2.Error:
        if replica.probe is not None:
            replica.probe.close()
            replica.probe = None
        raise
    return lsn_value(row[0] if row else None)
