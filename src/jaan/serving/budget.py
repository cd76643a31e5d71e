"""How many workers, and how many database connections each may hold.

The service has one connection budget: every worker's pool, the extra pool that
exists while a worker is being replaced (reload, recycle), and each worker's LISTEN
connection all come out of it, and it never exceeds the server's ``max_connections``
minus a reserve kept for migrations, admins and psql.

Behind a transaction-mode pooler (PgBouncer, ``JAAN_DB_POOLER_CONNECTIONS``) the limit is the
pooler's pool, not the server's ``max_connections``: our pooled connections are the pooler's
clients, and more of them than it has server connections would only queue inside the pooler,
past our ``connect_timeout``.  So the budget is the share of the pooler's pool this host was
given, with no reserve (admins reach the server directly); the LISTEN connections go straight
to the primary and are counted apart.
"""

from __future__ import annotations

import logging
import math
import os
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import psycopg2

from jaan.settings import Settings

log = logging.getLogger(__name__)

# Connections PostgreSQL keeps for superusers on top of what others may use.
SUPERUSER_RESERVED = 3
# Each pool gets at least this many connections, so one slow query does not starve a worker.
MIN_POOL_SIZE = 2
# Pools that can exist at once beyond the workers: the replacement started before the old one drains.
SURGE = 1


class BudgetError(ValueError):
    """The database server cannot hold the connections the requested workers need."""


def usable_cpus(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """CPUs this process may actually use: its affinity mask, capped by a cgroup CPU quota."""
    try:
        count = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        count = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def _cgroup_quota(root: Path) -> float | None:
    """CPUs granted by a cgroup v2 ``cpu.max`` or a v1 CFS quota; None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def resolve_workers(spec: str, cpus: int | None = None) -> int:
    """The worker count of ``--workers``: a positive number, or ``auto`` for the usable CPUs."""
    if spec.strip().lower() == "auto":
        return cpus if cpus is not None else usable_cpus()
    try:
        count = int(spec)
    except ValueError:
        raise ValueError(f"--workers must be a number or auto, not {spec!r}") from None
    if count < 1:
        raise ValueError("--workers must be at least 1")
    return count


@dataclass(frozen=True)
class ConnectionBudget:
    """The whole service's database connections and each worker's share of them."""

    total: int
    server_max: int
    reserve: int
    workers: int
    listen_per_worker: int
    pool_min: int
    pool_max: int

    @property
    def pools(self) -> int:
        return self.workers + SURGE

    @property
    def per_worker(self) -> int:
        """Connections one worker may hold: its pool and its LISTEN connections."""
        return self.pool_max + self.listen_per_worker

    def describe(self) -> str:
        if self.pooled:
            return (
                f"connection budget {self.total} of the pooler's pool: {self.workers} workers + {SURGE} during"
                f" a replacement, each pool min {self.pool_min} max {self.pool_max}"
                f" = at most {self.pools * self.pool_max} pooler connections,"
                f" + {self.pools * self.listen_per_worker} LISTEN straight to the primary"
            )
        return (
            f"connection budget {self.total} of the server's {self.server_max} "
            f"(reserve {self.reserve}): {self.workers} workers + {SURGE} during a replacement, "
            f"each pool min {self.pool_min} max {self.pool_max} + {self.listen_per_worker} LISTEN "
            f"= at most {self.pools * self.per_worker} connections"
        )

    def for_workers(self, workers: int) -> ConnectionBudget:
        """The same total split across another worker count (``bin/serve scale``)."""
        return split_budget(
            self.total,
            self.server_max,
            self.reserve,
            workers,
            self.listen_per_worker,
            self.pool_min_setting,
            self.pool_max_setting,
            pooled=self.pooled,
        )

    # The settings' own caps, kept so a re-split never exceeds what the operator asked for.
    pool_min_setting: int = 10
    pool_max_setting: int = 50
    # The budget is a pooler's pool (LISTEN connections then go to the primary, outside it).
    pooled: bool = False


def wanted_budget(settings: Settings, workers: int, cpus: int) -> int:
    """The budget asked for, before the server's limit caps it."""
    if settings.db_budget > 0:
        return settings.db_budget
    if settings.db_pooler_connections > 0:
        return settings.db_pooler_connections
    per_pool_floor = MIN_POOL_SIZE + settings.db_listen_connections
    return max(4 * cpus, (workers + SURGE) * per_pool_floor)


def embedded_max_connections(settings: Settings, workers: int, cpus: int) -> int:
    """``max_connections`` for an embedded cluster this service starts: the budget fits with room."""
    return max(100, wanted_budget(settings, workers, cpus) + settings.db_reserve + SUPERUSER_RESERVED)


def plan_budget(settings: Settings, workers: int, server_max: int, cpus: int) -> ConnectionBudget:
    """Split the budget across ``workers`` (plus the surge pool), within what the server allows.

    Behind a pooler, `server_max` is ignored: the pooler's pool for this host is the limit.
    """
    pooled = settings.db_pooler_connections > 0
    if pooled:
        server_max, reserve, available = settings.db_pooler_connections, 0, settings.db_pooler_connections
    else:
        reserve = settings.db_reserve
        available = server_max - reserve - SUPERUSER_RESERVED
    total = min(wanted_budget(settings, workers, cpus), available)
    return split_budget(
        total,
        server_max,
        reserve,
        workers,
        settings.db_listen_connections,
        settings.pool_min,
        settings.pool_max,
        pooled=pooled,
    )


def split_budget(
    total: int,
    server_max: int,
    reserve: int,
    workers: int,
    listen: int,
    pool_min: int,
    pool_max: int,
    *,
    pooled: bool = False,
) -> ConnectionBudget:
    """Each of ``workers + 1`` pools gets an equal share of ``total`` after the LISTEN connections
    (which a pooler's budget does not hold: they bypass it)."""
    pools = workers + SURGE
    listen_in_total = 0 if pooled else listen
    share = (total - pools * listen_in_total) // pools
    if share < 1:
        need = pools * (listen_in_total + 1)
        raise BudgetError(
            f"{workers} workers need at least {need} database connections ({pools} pools of one, "
            f"{listen} LISTEN each) but the budget is {total} (server max_connections {server_max}, "
            f"reserve {reserve} + {SUPERUSER_RESERVED} for superusers): use fewer workers, "
            "raise JAAN_DB_BUDGET or the server's max_connections"
        )
    share_max = min(pool_max, share)
    return ConnectionBudget(
        total=total,
        server_max=server_max,
        reserve=reserve,
        workers=workers,
        listen_per_worker=listen,
        pool_min=min(pool_min, share_max),
        pool_max=share_max,
        pool_min_setting=pool_min,
        pool_max_setting=pool_max,
        pooled=pooled,
    )


def server_max_connections(dsn: str) -> int:
    """The server's ``max_connections`` (one short-lived connection, closed before any fork)."""
    with closing(psycopg2.connect(dsn, connect_timeout=10)) as conn, conn.cursor() as cur:
        cur.execute("SHOW max_connections")
        row = cur.fetchone()
    assert row is not None
    return int(row[0])
