"""Every Prometheus metric of the service, declared once, and how they are shared across processes.

The numbers live in prometheus-client's multiprocess mode: each process (the master and every
worker) writes its own memory-mapped files in ``<data dir>/run/metrics/`` and ``GET /metrics``
reads them all, so a scrape answered by any worker shows the whole service, and a worker that
exits leaves its counts behind (folded into archive files; only its live gauges go).  bin/serve's
master empties the directory when it starts (:func:`share_between_processes`).  Without it (the
app in tests, one process) the same metrics count in the process's own registry.

Why files rather than the master collecting over its pipe or control socket: a count is one
write to shared memory in the process that saw it (about a microsecond), nothing crosses a
socket per request, a scrape sees every increment made before it, and nothing is lost when a
worker is killed between heartbeats.

Adding a metric is one line here, e.g.
``EVENT_SUBSCRIBERS = gauge("jaan_events_subscribers", "live event-stream subscribers")``;
names start with ``jaan_`` (a test checks), labels are few and bounded (never a raw path or id).
Then give it a panel in ``deploy/grafana/jaan.json`` (a test checks every metric has one) and,
if it can go wrong, an alert in ``deploy/prometheus/alerts.yml``.
"""

from __future__ import annotations

import fcntl
import os
import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess, values
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.registry import REGISTRY

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Seconds; wide enough for a cached read (sub-millisecond) and a slow report (seconds).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
# How a gauge's per-process values become one: summed over live processes, their minimum, ...
GaugeMode = Literal["livesum", "livemin", "livemax", "liveall", "mostrecent", "livemostrecent"]


def counter(name: str, documentation: str, labels: Sequence[str] = ()) -> Counter:
    """A counter summed over every process, dead ones included (``name`` ends in ``_total``)."""
    return Counter(name.removesuffix("_total"), documentation, labels)


def gauge(name: str, documentation: str, labels: Sequence[str] = (), mode: GaugeMode = "livesum") -> Gauge:
    """A gauge of the processes alive now (summed unless ``mode`` says otherwise)."""
    return Gauge(name, documentation, labels, multiprocess_mode=mode)


def histogram(
    name: str, documentation: str, labels: Sequence[str] = (), buckets: Sequence[float] = LATENCY_BUCKETS
) -> Histogram:
    """A histogram summed over every process, dead ones included."""
    return Histogram(name, documentation, labels, buckets=buckets)


# -- HTTP (the route is the template, e.g. /api/products/slug/{slug}; "unmatched" for 404/405) --
HTTP_REQUESTS = counter("jaan_http_requests_total", "HTTP requests answered", ("method", "route", "status"))
HTTP_DURATION = histogram(
    "jaan_http_request_duration_seconds",
    "time from the request's headers to its response, by status class (2xx, 4xx, ...)",
    ("method", "route", "status_class"),
)
HTTP_IN_FLIGHT = gauge("jaan_http_in_flight", "requests being handled (sampled by every worker each second)")

# -- the database ----------------------------------------------------------------------------------
DB_POOL_CONNECTIONS = gauge(
    "jaan_db_pool_connections",
    "pool connections of all workers: size (open), free, waiting (requests queued for one)",
    ("state",),
)
DB_ACQUIRE = histogram("jaan_db_acquire_seconds", "time a request waited for a pooled connection")
DB_QUERY = histogram("jaan_db_query_seconds", "time of one round trip to the database (statement or batch)")
LISTEN_UP = gauge(
    "jaan_listen_up", "1 when every worker's LISTEN connection is up (caches trusted), else 0", mode="livemin"
)
# Read replicas (DATABASE_REPLICA_URL), labelled host:port. Each worker checks every replica twice a
# second; the lag is the largest any worker saw, "in use" the smallest (0 when any worker skips it).
REPLICA_LAG = gauge(
    "jaan_replica_lag_seconds",
    "seconds a read replica's replay is behind the primary (while it does not answer: its last lag plus the"
    " time since)",
    ("replica",),
    mode="livemax",
)
REPLICA_IN_USE = gauge(
    "jaan_replica_in_use",
    "1 when catalogue reads may go to the replica (it answers and lags at most replica_max_lag), else 0",
    ("replica",),
    mode="livemin",
)

# -- caches ----------------------------------------------------------------------------------------
CACHE_REQUESTS = counter(
    "jaan_cache_requests_total",
    "cache look-ups by cache (response, session) and result (hit, miss, bypass: not listening)",
    ("cache", "result"),
)
RESPONSE_CACHE_LOOKUPS = counter(
    "jaan_response_cache_lookups_total",
    "response-cache look-ups by entry (the kind of answer: products, product, categories, orders, admin stats, ...)"
    " and result (hit, miss, bypass), for the hit rate of each route",
    ("entry", "result"),
)
RESPONSE_CACHE_DROPS = counter(
    "jaan_response_cache_drops_total",
    "cached answers forgotten because what they show changed, by tag (product, table, stock-views,"
    " in-stock-lists; all: the whole cache), summed over the workers",
    ("tag",),
)
RESPONSE_CACHE_PATCHES = counter(
    "jaan_response_cache_patches_total",
    "changes applied to cached answers in place instead of dropping them, by what changed (stock: a"
    " product's stock overlaid on its pages and lists; order figures: the admin's headline figures)",
    ("change",),
)

# -- the master ------------------------------------------------------------------------------------
WORKERS = gauge("jaan_workers", "worker processes by state (starting, ready, draining, killed)", ("state",))
WORKER_RESTARTS = counter(
    "jaan_worker_restarts_total",
    "workers replaced, by reason: crash, hung, memory, max_requests, reload, resize",
    ("reason",),
)

# -- the shop --------------------------------------------------------------------------------------
ORDERS_PLACED = counter("jaan_orders_placed_total", "orders placed at checkout")
ORDERS_REFUSED_FOR_STOCK = counter("jaan_orders_refused_for_stock_total", "checkouts refused with 409: not in stock")
IDEMPOTENT_REPLAYS = counter(
    "jaan_idempotent_replays_total", "checkouts answered from an earlier request's Idempotency-Key"
)
SIGNIN_FAILURES = counter("jaan_signin_failures_total", "sign-ins refused for a wrong email or password")
SIGNIN_THROTTLED = counter("jaan_signin_throttled_total", "sign-ins refused with 429 after repeated failures")

# -- live events -----------------------------------------------------------------------------------
EVENT_SUBSCRIBERS = gauge(
    "jaan_events_subscribers", "open live-event streams (sampled by every worker each second)", ("audience",)
)
EVENTS_DELIVERED = counter("jaan_events_delivered_total", "events handed to subscribers' streams")
EVENT_STREAMS_CLOSED = counter(
    "jaan_event_streams_closed_total", "event streams the server closed, by close code", ("code",)
)


def cache_counters(cache: str) -> tuple[Counter, Counter, Counter]:
    """A cache's hit, miss and bypass counters (bound once: a look-up must stay cheap)."""
    hit, miss, bypass = (CACHE_REQUESTS.labels(cache, result) for result in ("hit", "miss", "bypass"))
    return hit, miss, bypass


class Tally:
    """Counts of a labelled counter kept in plain ints in this process and added to it by
    :func:`flush_tallies` (every worker heartbeat, and before a scrape this process answers).

    For counts on the hot path: one write to the shared file costs microseconds (a lock, a pid
    check and an mmap write; ~13 µs on a busy 2-core box), a dictionary add well under one. A
    scrape may see another worker's counts up to one heartbeat late.
    """

    def __init__(self, metric: Counter) -> None:
        self.metric = metric
        self.pending: dict[tuple[str, ...], int] = {}
        _tallies.append(self)

    def add(self, *labels: str) -> None:
        self.pending[labels] = self.pending.get(labels, 0) + 1

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for labels, amount in pending.items():
            self.metric.labels(*labels).inc(amount)


_tallies: list[Tally] = []


def flush_tallies() -> None:
    """Add every tally's counts to its counter (see :class:`Tally`)."""
    for tally in _tallies:
        tally.flush()


def _metric_objects() -> list[Counter | Gauge | Histogram]:
    return [value for value in globals().values() if isinstance(value, Counter | Gauge | Histogram)]


def declared() -> dict[str, str]:
    """Every metric family this module declares: its exposed name -> its type."""
    found: dict[str, str] = {}
    for metric in _metric_objects():
        for family in metric.describe():
            found[family.name + ("_total" if family.type == "counter" else "")] = family.type
    return found


# -- processes and scrapes -------------------------------------------------------------------------


def share_between_processes(run_dir: Path) -> Path:
    """bin/serve's master, before it forks: count in files of an emptied directory its workers share.

    prometheus-client reads the environment once, when it is first imported; the value class is
    switched here instead, and the metrics without labels (whose values exist already) are
    re-made (with the labelled ones' children made so far), so it does not matter who imported
    what first.  Forked workers inherit all of it.
    """
    directory = run_dir / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True, mode=0o700)
    os.environ[MULTIPROCESS_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # type: ignore[no-untyped-call]
    for metric in _metric_objects():
        for value in list(metric._metrics.values()) if metric._labelnames else [metric]:
            value._metric_init()
    # The master listens to nothing: its own copy of this minimum must not pull it down.
    LISTEN_UP.set(1)
    return directory


def process_exited(pid: int) -> None:
    """The master, on reaping a process: its live gauges stop counting, its counts are folded in.

    Folding moves a dead process's counters and histograms into one archive file per type, so a
    service that recycles workers often does not leave a file per worker for every scrape to read.
    """
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        _exited.append(pid)
        fold_exited()


_exited: list[int] = []  # processes whose files are still to fold
_ARCHIVE = "archive"  # counter_archive.db, histogram_archive.db: what exited processes counted


def fold_exited() -> None:
    """Fold the files of exited processes, unless a scrape is reading them now (then: next time)."""
    if not _exited:
        return
    directory = Path(os.environ[MULTIPROCESS_ENV])
    with _scrape_lock(directory) as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the master never waits for a scrape
        except BlockingIOError:
            return
        while _exited:
            pid = _exited.pop()
            for kind in ("counter", "histogram"):
                _fold(directory / f"{kind}_{pid}.db", directory / f"{kind}_{_ARCHIVE}.db")


def _fold(dead: Path, archive_path: Path) -> None:
    if not dead.exists():
        return
    archive = MmapedDict(str(archive_path))  # type: ignore[no-untyped-call]
    try:
        for key, value, _, _ in MmapedDict.read_all_values_from_file(str(dead)):  # type: ignore[no-untyped-call]
            archive.write_value(key, archive.read_value(key)[0] + value, 0.0)  # type: ignore[no-untyped-call]
    finally:
        archive.close()  # type: ignore[no-untyped-call]
    dead.unlink()


def _scrape_lock(directory: Path) -> IO[bytes]:
    """The lock a scrape holds shared while it reads the files, and the master exclusively to fold."""
    return open(directory / ".fold.lock", "ab")


def exposition() -> bytes:
    """The Prometheus text of the whole service (every process's files), or of this process alone."""
    flush_tallies()
    directory = os.environ.get(MULTIPROCESS_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    with _scrape_lock(Path(directory)) as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        return generate_latest(registry)


def sample_worker(
    in_flight: int, pool: dict[str, int | None] | None, subscribers: dict[str, int] | None = None
) -> None:
    """A worker's gauges, sampled each heartbeat (summed over the live workers), and its tallies."""
    flush_tallies()
    HTTP_IN_FLIGHT.set(in_flight)
    for audience in ("admin", "customer"):
        EVENT_SUBSCRIBERS.labels(audience).set((subscribers or {}).get(audience, 0))
    for state in ("size", "free", "waiting"):
        value = (pool or {}).get(state)
        DB_POOL_CONNECTIONS.labels(state).set(value or 0)
