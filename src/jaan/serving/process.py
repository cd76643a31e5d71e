"""A worker process as the master sees it, and the pipe a worker reports on.

A worker writes one JSON line per message to its pipe: ``ready`` once its app and
pool are up, ``beat`` from its event loop with its counters, ``recycle`` when it has
served its ``--max-requests``, ``fatal`` with the reason it could not start.  Lines
are shorter than PIPE_BUF, so each write is atomic.
"""

from __future__ import annotations

import enum
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

MONITOR_PORTS_PER_SET = 3  # terminal UI, web UI, Python console


class WorkerState(enum.Enum):
    STARTING = "starting"  # forked, app not yet serving
    READY = "ready"  # serving and heart-beating
    DRAINING = "draining"  # told to stop: no new connections, finishing in-flight requests
    KILLED = "killed"  # sent SIGABRT or SIGKILL, waiting to reap


@dataclass(frozen=True)
class MonitorPorts:
    terminal: int
    web: int
    console: int

    @classmethod
    def for_slot(cls, base: int, slot: int, parity: int) -> MonitorPorts:
        """Ports of slot ``slot``; a replacement uses the other ``parity`` than its predecessor."""
        first = base + (2 * (slot - 1) + parity) * MONITOR_PORTS_PER_SET
        return cls(first, first + 1, first + 2)


@dataclass(frozen=True)
class WorkerSpec:
    """What a forked worker needs to know besides the settings."""

    slot: int
    pool_min: int
    pool_max: int
    heartbeat_interval: float
    max_requests: int  # 0: never recycle
    monitor_ports: MonitorPorts | None


@dataclass
class Worker:
    """The master's record of one worker process."""

    slot: int
    pid: int
    spec: WorkerSpec
    channel: int  # read end of the worker's pipe
    parity: int
    started_at: float = field(default_factory=time.monotonic)
    started_wall: float = field(default_factory=time.time)
    state: WorkerState = WorkerState.STARTING
    ready_at: float | None = None
    last_beat: float = field(default_factory=time.monotonic)
    stats: dict[str, Any] = field(default_factory=dict)
    replaces: int | None = None  # pid of the worker this one takes over from
    reason: str | None = None  # the worker's own account of why it failed
    stop_deadline: float | None = None  # SIGKILL when still alive after this
    stopped_on_purpose: bool = False
    buffer: bytes = b""

    @property
    def uptime(self) -> float:
        return time.monotonic() - self.started_at

    def rss_bytes(self) -> int:
        """Resident set size, read by the master from /proc (0 when the process is gone)."""
        try:
            with open(f"/proc/{self.pid}/statm") as statm:
                return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, ValueError, IndexError):
            return 0

    def feed(self, data: bytes) -> list[dict[str, Any]]:
        """Add bytes read from the pipe; return the complete messages."""
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        messages = []
        for line in lines:
            try:
                messages.append(json.loads(line))
            except ValueError:
                continue
        return messages


def encode(kind: str, **fields: Any) -> bytes:
    """One message line for the pipe (callers keep free text short: a line must stay atomic)."""
    return json.dumps({"kind": kind, **fields}, separators=(",", ":")).encode() + b"\n"


def describe_exit(status: int) -> str:
    """An exit status of ``os.waitpid`` in words."""
    if os.WIFSIGNALED(status):
        import signal

        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"
