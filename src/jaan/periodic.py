"""Periodic work done once across workers and hosts.

Every worker runs the same schedule, but each job runs inside a transaction that first takes
``pg_try_advisory_xact_lock`` on the job's key: whoever gets it does the work, the others skip
that tick.  The lock goes with the transaction, so a worker that dies mid-job frees it.  Each
interval is jittered so that workers started together do not all wake at the same moment, and
the jobs themselves are idempotent (deleting what is stale), so a tick that two workers run one
after the other costs a query, not correctness.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web

from jaan.db.pool import Cursor, Database
from jaan.state import DATABASE

log = logging.getLogger(__name__)

Work = Callable[[Cursor], Awaitable[object]]


def lock_key(name: str) -> int:
    """A stable advisory-lock key for a job name (a signed 64-bit integer, as PostgreSQL takes)."""
    return int.from_bytes(hashlib.sha256(f"jaan periodic {name}".encode()).digest()[:8], "big", signed=True)


@dataclass(frozen=True)
class PeriodicJob:
    """Work to do every `interval` seconds, by one process at a time."""

    name: str
    interval: float
    work: Work

    @property
    def lock_key(self) -> int:
        return lock_key(self.name)


async def run_once(database: Database, job: PeriodicJob) -> bool:
    """Run `job` now unless another process is running it; True when this process ran it."""
    async with database.transaction() as cur:
        if not await cur.fetch_value("SELECT pg_try_advisory_xact_lock(%s)", (job.lock_key,)):
            return False
        result = await job.work(cur)
    log.debug("periodic job %s done: %s", job.name, result)
    return True


class PeriodicRunner:
    """Runs each job on its own jittered schedule until stopped."""

    def __init__(self, database: Database, jobs: Sequence[PeriodicJob], jitter: float = 0.1) -> None:
        self.database = database
        self.jobs = list(jobs)
        self.jitter = jitter
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = asyncio.Event()

    def _next_delay(self, job: PeriodicJob) -> float:
        return job.interval * random.uniform(1 - self.jitter, 1 + self.jitter)

    async def _loop(self, job: PeriodicJob) -> None:
        # The first run waits a random part of the interval: workers (re)started together spread out.
        delay = job.interval * random.random()
        while not await self._stopped_within(delay):
            try:
                await run_once(self.database, job)
            except Exception:
                # A failed tick (database away, statement timeout) is retried at the next one.
                log.exception("periodic job %s failed", job.name)
            delay = self._next_delay(job)

    async def _stopped_within(self, seconds: float) -> bool:
        """Wait `seconds` or until stop() is called; True when stopping."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._stopping.wait()
        return self._stopping.is_set()

    def start(self) -> None:
        self._stopping = asyncio.Event()
        self._tasks = [asyncio.create_task(self._loop(job), name=f"periodic {job.name}") for job in self.jobs]

    async def stop(self) -> None:
        """Stop every job and return once none runs: the pool may be closed right after.

        The event ends a loop between ticks; cancelling ends a tick in progress. A cancellation
        can be lost: aiopg waits for its queries with Python 3.11's ``asyncio.wait_for``, which
        returns the result instead of raising when the cancel arrives as the query completes.
        Such a loop still sees the event before its next tick, and the cancel is repeated for
        a tick that began meanwhile, so stop() never waits on a job that goes on forever.
        """
        self._stopping.set()
        pending = {task for task in self._tasks if not task.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=1.0)
        for task in self._tasks:
            if not task.cancelled() and task.exception() is not None:
                log.error("periodic job task %s ended with an error", task.get_name(), exc_info=task.exception())
        self._tasks = []


def periodic_jobs_ctx(jobs: Sequence[PeriodicJob]) -> Callable[[web.Application], AsyncIterator[None]]:
    """A cleanup context running `jobs` while the app runs (append it after the database pool's)."""

    async def periodic_jobs(app: web.Application) -> AsyncIterator[None]:
        runner = PeriodicRunner(app[DATABASE], jobs)
        runner.start()
        yield
        await runner.stop()

    return periodic_jobs
