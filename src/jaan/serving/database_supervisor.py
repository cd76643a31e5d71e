"""The master's watch over the embedded PostgreSQL it started.

The postmaster is the master's child, so its death wakes the master's loop (SIGCHLD)
and :meth:`DatabaseSupervisor.check` reaps it at once: no ``<defunct>`` process stays
behind.  The cluster is started again with a growing backoff; PostgreSQL's crash
recovery runs on that start, and the workers' pools reconnect by themselves (they answer
503 fast meanwhile).  Nothing here blocks the loop: a start is launched, then polled.

A database given by ``DATABASE_URL``, or an embedded cluster another command had
already started, is not ours to restart: the supervisor only reports it.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from typing import Any

from jaan.db.embedded import EmbeddedPostgres, EmbeddedPostgresError

log = logging.getLogger("jaan.master")

FIRST_BACKOFF = 0.5  # seconds before the first restart (the old backends need a moment to exit)
MAX_BACKOFF = 30.0
STABLE_AFTER = 60.0  # seconds of service after which a restart starts again from FIRST_BACKOFF
READINESS_POLL = 0.2  # seconds between "does it accept connections yet?" while starting


class DatabaseSupervisor:
    """Keeps the embedded cluster running; ``cluster`` is None when the database is not ours."""

    def __init__(self, cluster: EmbeddedPostgres | None, *, kind: str = "external") -> None:
        self.cluster = cluster
        self.kind = "embedded" if cluster is not None else kind
        self.state = "running" if cluster is not None else "not supervised"
        self.restarts = 0
        self.failures = 0  # deaths in a row without a stable run in between
        self.last_exit: str | None = None
        self.last_exit_at: float | None = None  # wall clock
        self.up_since = time.monotonic()
        self.restart_at = 0.0
        self.next_poll = 0.0
        self.stranger: int | None = None  # a postmaster someone else started while ours was down

    @property
    def pid(self) -> int | None:
        if self.cluster is None:
            return None
        if self.stranger is not None:
            return self.stranger
        process = self.cluster.process
        return process.pid if process is not None and process.returncode is None else None

    def check(self, *, restart: bool = True) -> None:
        """One turn of the master's loop: reap a dead postmaster, start or poll a new one."""
        cluster = self.cluster
        if cluster is None:
            return
        if self.stranger is not None:
            if not _alive(self.stranger):
                self._died(f"pid {self.stranger} (started by someone else) is gone")
                self.stranger = None
            return
        process = cluster.process
        if process is not None and self.state in ("running", "starting"):
            code = process.poll()  # reaps it: waitpid on its pid only, never on the workers'
            if code is not None:
                self._died(_describe(code))
                return
        if not restart:
            return
        now = time.monotonic()
        if self.state == "down" and now >= self.restart_at:
            self._launch()
        elif self.state == "starting" and now >= self.next_poll:
            self.next_poll = now + READINESS_POLL
            if cluster.accepts_connections():
                self.state, self.up_since = "running", now
                log.warning(
                    "embedded PostgreSQL is back (pid %s) %.1fs after it went down; crash recovery done",
                    self.pid,
                    time.time() - (self.last_exit_at or time.time()),
                )

    def _died(self, how: str) -> None:
        now = time.monotonic()
        if self.state == "running" and now - self.up_since > STABLE_AFTER:
            self.failures = 0
        self.failures += 1
        backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (self.failures - 1))
        self.state, self.restart_at = "down", now + backoff
        self.last_exit, self.last_exit_at = how, time.time()
        log.error("embedded PostgreSQL (pid %s) %s; restarting it in %.1fs", self._last_pid(), how, backoff)

    def _last_pid(self) -> str:
        process = self.cluster.process if self.cluster is not None else None
        return str(process.pid) if process is not None else "?"

    def _launch(self) -> None:
        assert self.cluster is not None
        stranger = self.cluster.running_pid()
        if stranger is not None:
            # Started by hand while ours was down: use it, and stop it when we stop.
            log.warning("embedded PostgreSQL was started by someone else (pid %d): using it", stranger)
            self.stranger, self.state, self.up_since = stranger, "running", time.monotonic()
            return
        self.restarts += 1
        try:
            self.cluster.launch()
        except (OSError, EmbeddedPostgresError) as exc:
            self._died(f"could not be started: {exc}")
            return
        self.state, self.next_poll = "starting", time.monotonic() + READINESS_POLL
        log.info("embedded PostgreSQL starting again (pid %s, restart %d)", self.pid, self.restarts)

    def snapshot(self) -> dict[str, Any]:
        """What ``bin/serve status`` shows about the database."""
        return {
            "kind": self.kind,
            "state": self.state,
            "pid": self.pid,
            "restarts": self.restarts,
            "last_exit": self.last_exit,
            "last_exit_at": self.last_exit_at,
            "root": str(self.cluster.root) if self.cluster is not None else None,
        }


def _describe(returncode: int) -> str:
    if returncode < 0:
        return f"was killed by {signal.Signals(-returncode).name}"
    return f"exited with code {returncode}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
