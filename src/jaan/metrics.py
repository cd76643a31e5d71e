"""Every Prometheus metric of the service, declared once, and how they are shared across processes.

The numbers live in prometheus-client's multiprocess mode: each process (the master and every
worker) writes its own memory-mapped files in ``<data dir>/run/metrics/`` and ``GET /metrics``
reads them all, so a scrape answered by any worker shows the whole service, and a worker that
exits leaves its counts behind (folded into archive files; only its live gauges go).  bin/serve's
master empties the directory when it starts (:func:`share_between_processes`).  Without it (the
app in tests, one process) the same metrics count in the process's own registry.

Why files rather than the master collecting over its pipe or control socket: a count is a
write to shared memory in the process that saw it, nothing crosses a socket per request, and a
scrape sees every count written before it.  What is counted on every request (HTTP, caches,
the pool) is first tallied in plain numbers and written in batches (:class:`Tally`): a scrape
waits for those batches, so it stays exact; a worker killed outright loses its last one.

Adding a metric is one line here, e.g.
``EVENT_SUBSCRIBERS = gauge("jaan_events_subscribers", "live event-stream subscribers")``;
names start with ``jaan_`` (a test checks), labels are few and bounded (never a raw path or id).
Then give it a panel in ``deploy/grafana/jaan.json`` (a test checks every metric has one) and,
if it can go wrong, an alert in ``deploy/prometheus/alerts.yml``.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fcntl
import functools
import os
import shutil
import time
from collections.abc import Callable, Sequence
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
LISTEN_CATCH_UP = histogram(
    "jaan_listen_catch_up_seconds",
    "time from a LISTEN connection's liveness probe to its echo: how far behind a worker hears changes (its caches"
    " pause past listen_probe_interval + listen_probe_timeout)",
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
    "cache look-ups by cache (response, session) and result (hit, miss, bypass: not listening, or not caught up)",
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
RESPONSE_CACHE_BYTES = gauge(
    "jaan_response_cache_bytes",
    "bytes the workers' response caches hold, bodies and bookkeeping (estimated; each worker samples its own"
    " every second; summed)",
)
RESPONSE_CACHE_EVICTIONS = counter(
    "jaan_response_cache_evictions_total",
    "cached answers evicted, least recently used first, to keep a worker's response cache within"
    " response_cache_mb, by entry (the kind of answer)",
    ("entry",),
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


def cache_counters(cache: str) -> tuple[Callable[[], None], Callable[[], None], Callable[[], None]]:
    """A cache's hit, miss and bypass counts: call one to count a look-up (tallied, see :class:`Tally`)."""
    hit, miss, bypass = (_CACHE_LOOKUPS.counting(cache, result) for result in ("hit", "miss", "bypass"))
    return hit, miss, bypass


class Tally:
    """A counter's or histogram's counts kept in plain numbers in this process and written to it
    by :func:`flush_tallies`: "tally here, flush there", for everything counted per request.

    One write to the shared file costs microseconds (a lock, a pid check and an mmap write; ~13 µs
    on a busy 2-core box, and a histogram's observation is two of them), a dictionary add well under
    one.  The counts are written ``FLUSH_DELAY`` seconds after the first one since the last flush
    (a loop timer; under load that is one write per label set for hundreds of requests), at every
    heartbeat, before a scrape this process answers, and when the worker exits.  A scrape waits
    for the other processes' pending counts first (:func:`exposition`), so it is exact: it shows
    every request answered before it.  What a worker killed with SIGKILL had not written yet
    (at most ``FLUSH_DELAY`` seconds of it) is lost with it.
    """

    def __init__(self, metric: Counter | Histogram) -> None:
        self.metric = metric
        # Label values -> [amount] for a counter, [sum, count per bucket...] for a histogram.
        self.pending: dict[tuple[str, ...], list[float]] = {}
        self._bounds: list[float] = list(metric._upper_bounds) if isinstance(metric, Histogram) else []
        self._children: dict[tuple[str, ...], Counter | Histogram] = {}
        _tallies.append(self)

    def add(self, *labels: str, amount: float = 1.0) -> None:
        """Count `amount` (a counter's tally) for these label values."""
        entry = self.pending.get(labels)
        if entry is None:
            entry = self._start(labels)
        entry[0] += amount

    def counting(self, *labels: str) -> Callable[[], None]:
        """``add`` for these label values, bound once (for a count made on every request)."""
        return functools.partial(self.add, *labels)

    def observe(self, value: float, *labels: str) -> None:
        """Observe `value` (a histogram's tally) for these label values."""
        entry = self.pending.get(labels)
        if entry is None:
            entry = self._start(labels)
        entry[0] += value
        # The bucket prometheus-client's observe() would count: the first bound >= value.
        entry[bisect.bisect_left(self._bounds, value) + 1] += 1

    def _start(self, labels: tuple[str, ...]) -> list[float]:
        entry = self.pending[labels] = [0.0] * (1 + len(self._bounds))
        _flush_soon()
        return entry

    def flush(self) -> None:
        pending, self.pending = self.pending, {}
        for labels, entry in pending.items():
            child = self._children.get(labels)
            if child is None:
                child = self._children[labels] = self.metric.labels(*labels) if labels else self.metric
            if isinstance(child, Counter):
                child.inc(entry[0])
                continue
            # Histogram.observe() writes its sum and one bucket per call; these are the same values.
            child._sum.inc(entry[0])
            for bucket, count in zip(child._buckets, entry[1:], strict=True):
                if count:
                    bucket.inc(count)


FLUSH_DELAY = 0.1  # seconds a tallied count may wait before it is written (a scrape waits for it)
_tallies: list[Tally] = []
_CACHE_LOOKUPS = Tally(CACHE_REQUESTS)
_flush_timer: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None
_pending_marker: Path | None = None  # this process's "counts not written yet" file, while it exists


def flush_tallies() -> None:
    """Write every tally's counts to its metric (see :class:`Tally`); on the thread that tallies."""
    global _flush_timer, _pending_marker
    timer, _flush_timer = _flush_timer, None
    for tally in _tallies:
        tally.flush()
    if _pending_marker is not None:
        _pending_marker.unlink(missing_ok=True)
        _pending_marker = None
    if timer is not None:
        timer[1].cancel()  # last: the loop it was set on may be closed already (a worker's exit)


def _flush_soon() -> None:
    """A count is pending: write it within FLUSH_DELAY, and tell scrapes to wait for it."""
    global _flush_timer, _pending_marker
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return  # no loop (a command, a test): written by the next explicit flush or scrape
    if _flush_timer is not None and _flush_timer[0] is loop:
        return
    _flush_timer = (loop, loop.call_later(FLUSH_DELAY, flush_tallies))
    directory = os.environ.get(MULTIPROCESS_ENV)
    if directory and _pending_marker is None:
        marker = Path(directory) / f"{_PENDING}{os.getpid()}"
        with contextlib.suppress(OSError):
            marker.touch()
            _pending_marker = marker


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
    if directory := os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(pid)  # type: ignore[no-untyped-call]
        (Path(directory) / f"{_PENDING}{pid}").unlink(missing_ok=True)  # what it had not written is lost
        _exited.append(pid)
        fold_exited()


_exited: list[int] = []  # processes whose files are still to fold
_ARCHIVE = "archive"  # counter_archive.db, histogram_archive.db: what exited processes counted
_PENDING = "pending_"  # pending_<pid>: that process has tallied counts it has not written yet
PENDING_WAIT = 2.0  # seconds a scrape waits at most for the other processes' pending counts


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
    """The Prometheus text of the whole service (every process's files), or of this process alone.

    Blocking (it reads files and may wait): call it off the event loop, after this process's
    own :func:`flush_tallies` on its loop.  It first waits (at most ``PENDING_WAIT`` seconds, for a
    worker whose loop is stuck) until no other live process has counts still to write, so what it
    shows includes every request answered before it began.
    """
    directory = os.environ.get(MULTIPROCESS_ENV)
    if not directory:
        return generate_latest(REGISTRY)
    _wait_for_pending(Path(directory))
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    with _scrape_lock(Path(directory)) as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)
        return generate_latest(registry)


def _wait_for_pending(directory: Path) -> None:
    deadline = time.monotonic() + PENDING_WAIT
    while time.monotonic() < deadline:
        if not any(_alive(marker) for marker in directory.glob(f"{_PENDING}*")):
            return
        time.sleep(FLUSH_DELAY / 10)


def _alive(marker: Path) -> bool:
    """Whether the marker's process lives (its own marker counts not: it flushed before asking)."""
    pid = int(marker.name.removeprefix(_PENDING))
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def sample_worker(
    in_flight: int,
    pool: dict[str, int | None] | None,
    subscribers: dict[str, int] | None = None,
    response_cache_bytes: int = 0,
) -> None:
    """A worker's gauges, sampled each heartbeat (summed over the live workers), and its tallies."""
    flush_tallies()
    HTTP_IN_FLIGHT.set(in_flight)
    RESPONSE_CACHE_BYTES.set(response_cache_bytes)
    for audience in ("admin", "customer"):
        EVENT_SUBSCRIBERS.labels(audience).set((subscribers or {}).get(audience, 0))
    for state in ("size", "free", "waiting"):
        value = (pool or {}).get(state)
        DB_POOL_CONNECTIONS.labels(state).set(value or 0)
