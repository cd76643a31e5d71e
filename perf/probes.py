"""What is sampled alongside a wrk run: memory of every server process, the database's connections,
and (wrk gives no time series) the latency a light client sees over time.

Each probe runs in a thread of the runner, so it costs the box little: /proc reads at 4 Hz,
one small SQL query at 2 Hz, and a few dozen HTTP requests a second for the timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import psycopg2

MB = 2**20


def children(pid: int) -> list[int]:
    """The direct children of `pid` (the kernel's list per thread, else a scan of /proc)."""
    found: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(child) for child in (task / "children").read_text().split()]
        return found
    except OSError:
        pass
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    """The process's title (setproctitle shows ``jaan: worker 1``), '' when it is gone."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def memory_of(pid: int) -> tuple[int, int] | None:
    """(RSS, PSS) in bytes from /proc/<pid>/smaps_rollup, None when the process is gone."""
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    values = {}
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name in ("Rss", "Pss"):
            values[name] = int(rest.split()[0]) * 1024
    return values.get("Rss", 0), values.get("Pss", 0)


def cpu_seconds(pid: int) -> float:
    """User + system CPU the process has used, from /proc/<pid>/stat (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ServerProcesses:
    """The processes of one server: its root and the children whose title starts with `prefix`.

    For bin/serve the prefix ``jaan:`` keeps the master and its workers and leaves out the
    embedded PostgreSQL, which is a child of the master too; the hello app takes every child.
    """

    root: int
    prefix: str = ""

    def pids(self) -> list[int]:
        """The live pids (workers replaced during the run are picked up at the next sample)."""
        return [self.root] + [pid for pid in children(self.root) if command_line(pid).startswith(self.prefix)]


class Processes(Protocol):
    """What a sampler watches: the pids alive now."""

    def pids(self) -> list[int]: ...


@dataclass
class ManyServers:
    """Several servers' processes as one (the hosts of a rehearsal)."""

    servers: list[ServerProcesses]

    def pids(self) -> list[int]:
        return [pid for server in self.servers for pid in server.pids()]


@dataclass
class Sampler:
    """Peak memory of a server's processes and peak database connections, sampled in a thread."""

    processes: Processes
    dsn: str | None = None
    interval: float = 0.25
    _peak_rss: int = 0
    _peak_pss: int = 0
    _per_process: dict[int, dict[str, Any]] = field(default_factory=dict)
    _db_peak: int = 0
    _db_peak_active: int = 0
    _db_error: str | None = None
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _cpu_at_start: dict[int, float] = field(default_factory=dict)

    def start(self) -> None:
        """Begin sampling (call ``stop`` to end it and get the summary)."""
        self._cpu_at_start = {pid: cpu_seconds(pid) for pid in self.processes.pids()}
        self._thread = threading.Thread(target=self._loop, name="perf-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> dict[str, Any]:
        """Stop sampling; the peaks: memory in MB (sum over the processes at one instant, and each one's)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        # The CPU the server's processes used meanwhile: less disturbed by a busy machine than req/s.
        # (A worker replaced during the run counts only for its successor's share.)
        cpu = sum(cpu_seconds(pid) - self._cpu_at_start.get(pid, 0.0) for pid in self.processes.pids())
        summary: dict[str, Any] = {
            "server_cpu_s": round(cpu, 3),
            "memory": {
                "total_rss_mb": round(self._peak_rss / MB, 1),
                "total_pss_mb": round(self._peak_pss / MB, 1),
                "processes": sorted(self._per_process.values(), key=lambda p: p["role"]),
            },
        }
        if self.dsn is not None:
            summary["db_connections"] = {"peak": self._db_peak, "peak_active": self._db_peak_active}
            if self._db_error:
                summary["db_connections"]["error"] = self._db_error
        return summary

    def _loop(self) -> None:
        connection = None
        if self.dsn is not None:
            try:
                connection = psycopg2.connect(self.dsn)
                connection.autocommit = True
            except psycopg2.Error as exc:
                self._db_error = str(exc).strip()
        tick = 0
        try:
            while not self._stop.is_set():
                self._sample_memory()
                if connection is not None and tick % 2 == 0:
                    self._sample_database(connection)
                tick += 1
                self._stop.wait(self.interval)
        finally:
            if connection is not None:
                connection.close()

    def _sample_memory(self) -> None:
        rss_total = pss_total = 0
        for pid in self.processes.pids():
            measured = memory_of(pid)
            if measured is None:
                continue
            rss, pss = measured
            rss_total += rss
            pss_total += pss
            entry = self._per_process.setdefault(
                pid, {"pid": pid, "role": command_line(pid) or str(pid), "rss_mb": 0.0, "pss_mb": 0.0}
            )
            entry["rss_mb"] = max(entry["rss_mb"], round(rss / MB, 1))
            entry["pss_mb"] = max(entry["pss_mb"], round(pss / MB, 1))
        self._peak_rss = max(self._peak_rss, rss_total)
        self._peak_pss = max(self._peak_pss, pss_total)

    def _sample_database(self, connection: Any) -> None:
        try:
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT count(*), count(*) FILTER (WHERE state <> 'idle') FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
                total, active = cur.fetchone()
        except psycopg2.Error as exc:
            self._db_error = str(exc).strip()
            return
        self._db_peak = max(self._db_peak, int(total))
        self._db_peak_active = max(self._db_peak_active, int(active))


@contextlib.contextmanager
def sampling(processes: Processes, dsn: str | None, into: dict[str, Any]) -> Iterator[None]:
    """Sample for the duration of the block; the summary is merged into `into`."""
    sampler = Sampler(processes, dsn)
    sampler.start()
    try:
        yield
    finally:
        into.update(sampler.stop())


# The kernel's counters (TcpExt, /proc/net/netstat) that say where a connection burst waits or is dropped
# before a worker accepts it: the accept queue full (the SYN or the handshake's last ACK dropped), the SYN
# queue full (answered with a cookie instead, or dropped), and the retransmission timeouts that follow.
LISTEN_COUNTERS = (
    "ListenOverflows",
    "ListenDrops",
    "TCPReqQFullDrop",
    "TCPReqQFullDoCookies",
    "SyncookiesSent",
    "SyncookiesRecv",
    "TCPTimeouts",
)


def listen_counters() -> dict[str, int]:
    """The machine's LISTEN_COUNTERS now (empty when /proc/net/netstat cannot be read)."""
    try:
        lines = Path("/proc/net/netstat").read_text().splitlines()
    except OSError:
        return {}
    counters: dict[str, int] = {}
    for names, values in zip(lines[0::2], lines[1::2], strict=False):
        if names.startswith("TcpExt:"):
            row = dict(zip(names.split()[1:], values.split()[1:], strict=False))
            counters = {name: int(row[name]) for name in LISTEN_COUNTERS if name in row}
    return counters


@contextlib.contextmanager
def counting_listen(into: dict[str, Any]) -> Iterator[None]:
    """The LISTEN_COUNTERS' increase over the block, merged into `into` as "listen" (machine-wide: a
    quiet machine's figures are the run's own)."""
    before = listen_counters()
    try:
        yield
    finally:
        after = listen_counters()
        into["listen"] = {name: after[name] - before[name] for name in after if name in before}


@dataclass
class Timeline:
    """A light client asking `url` `rate` times a second, open loop, recording each answer's latency.

    Requests go out on schedule whether or not earlier ones have answered (up to `in_flight`
    at once), so a stalled server shows as a climb, not as fewer samples.
    """

    url: str
    rate: float = 25.0
    timeout: float = 5.0
    in_flight: int = 200
    samples: list[dict[str, Any]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Begin sending in a thread of its own (with its own event loop)."""
        self._thread = threading.Thread(target=lambda: asyncio.run(self._main()), name="perf-timeline", daemon=True)
        self._thread.start()

    def stop(self) -> list[dict[str, Any]]:
        """Stop, wait for the answers still due, and return the samples: t (s), ms (None: failed), status."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.timeout + 5)
        return sorted(self.samples, key=lambda sample: float(sample["t"]))

    async def _main(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.timeout)
        connector = aiohttp.TCPConnector(limit=self.in_flight)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
            tasks: set[asyncio.Task[None]] = set()
            began = time.monotonic()
            sent = 0
            while not self._stop.is_set():
                due = began + sent / self.rate
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if len(tasks) < self.in_flight:
                    task = asyncio.create_task(self._one(session, began))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                sent += 1
            if tasks:
                await asyncio.wait(tasks, timeout=self.timeout + 1)

    async def _one(self, session: aiohttp.ClientSession, began: float) -> None:
        start = time.monotonic()
        status: int | str
        try:
            async with session.get(self.url) as response:
                await response.read()
                status = response.status
            elapsed: float | None = round((time.monotonic() - start) * 1000, 2)
        except TimeoutError:
            status, elapsed = "timeout", None
        except aiohttp.ClientError as exc:
            status, elapsed = type(exc).__name__, None
        self.samples.append({"t": round(start - began, 3), "ms": elapsed, "status": status})
