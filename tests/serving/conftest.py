"""Real ``bin/serve`` processes on real sockets, and a bounded load to run against them."""

from __future__ import annotations

import contextlib
import http.client
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from perf.service import free_port_block

from jaan.serving import control
from tests.waiting import PATIENCE

ROOT = Path(__file__).resolve().parents[2]
BIN_SERVE = ROOT / "bin" / "serve"
READY = re.compile(r"^ready: (\d+) workers on http://([^\s:]+):(\d+)$")


class Service:
    """One ``bin/serve`` master in the foreground, its stderr collected line by line."""

    def __init__(self, dsn: str, *args: str, env: dict[str, str] | None = None) -> None:
        self.data_dir = Path(tempfile.mkdtemp(prefix="jaan-serve-", dir="/tmp"))
        self.monitor_base = free_port_block(6 * 8)
        command = [
            sys.executable,
            str(BIN_SERVE),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--data-dir",
            str(self.data_dir),
            "--monitor-port-base",
            str(self.monitor_base),
            "--access-log",
            "false",
            *args,
        ]
        self.process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "DATABASE_URL": dsn, **(env or {})},
        )
        self.lines: list[str] = []
        self.changed = threading.Condition()
        self.port = 0
        self.workers = 0
        self.reader = threading.Thread(target=self._collect, daemon=True)
        self.reader.start()

    def _collect(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            with self.changed:
                self.lines.append(line.rstrip("\n"))
                match = READY.match(self.lines[-1])
                if match:
                    self.workers, self.port = int(match.group(1)), int(match.group(3))
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    @property
    def stderr(self) -> str:
        with self.changed:
            return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = PATIENCE) -> str:
        """The first stderr line matching ``pattern``, waiting for it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines:
                    if regex.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.process.poll() is not None and not self._more_lines_pending()):
                    raise AssertionError(f"no line matching {pattern!r} in:\n" + "\n".join(self.lines[-40:]))
                self.changed.wait(min(remaining, 0.1))

    def _more_lines_pending(self) -> bool:
        return self.process.stderr is not None and not self.process.stderr.closed

    def wait_ready(self, timeout: float = 2 * PATIENCE) -> Service:
        self.wait_for_line(READY.pattern, timeout)
        return self

    def status(self) -> dict[str, Any]:
        return control.call(self.data_dir / "run", "status")

    def worker_pids(self, state: str = "ready") -> dict[int, int]:
        """slot -> pid of the workers in ``state``."""
        return {w["slot"]: w["pid"] for w in self.status()["workers"] if w["state"] == state}

    def wait_until(self, condition: Callable[[dict[str, Any]], bool], timeout: float = PATIENCE) -> dict[str, Any]:
        """Poll the status until ``condition`` holds; return that status."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.status()
            if condition(snap):
                return snap
            if time.monotonic() > deadline:
                raise AssertionError(f"condition not met within {timeout}s; last status: {snap}")
            time.sleep(0.05)

    def get(self, path: str = "/api/health", timeout: float = PATIENCE) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request("GET", path)
            response = conn.getresponse()
            return response.status, response.read()
        finally:
            conn.close()

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def wait_exit(self, timeout: float) -> int:
        """The exit code, once the process has exited and all its stderr is collected."""
        code = self.process.wait(timeout)
        self.reader.join(5)
        return code

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        # Workers die with their master (PDEATHSIG); make sure of it before the database goes.
        for line in self.lines:
            match = re.search(r"worker \d+ started \(pid (\d+)\)", line)
            if match:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(match.group(1)), signal.SIGKILL)
        self.reader.join(10)
        if self.process.stderr is not None:
            self.process.stderr.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)


@pytest.fixture
def serve(shop_database: str) -> Iterator[Callable[..., Service]]:
    """Start ``bin/serve`` with extra flags against a fresh migrated database; everything is killed afterwards."""
    services: list[Service] = []

    def start(*args: str, ready: bool = True, dsn: str | None = None, env: dict[str, str] | None = None) -> Service:
        service = Service(dsn or shop_database, *args, env=env)
        services.append(service)
        return service.wait_ready() if ready else service

    yield start
    for service in services:
        service.close()


@dataclass
class LoadResult:
    ok: int = 0
    failed: int = 0
    refused: int = 0
    retried: int = 0
    errors: list[str] = field(default_factory=list)


class Load:
    """Keep-alive clients hammering one URL from threads, bounded in requests and time.

    A request counts as failed when the server accepted its connection and then gave no
    complete 200 answer.  Like every HTTP client (RFC 9112 §9.3.1), a request that finds a
    reused keep-alive connection closed before any byte of the answer is retried once on a
    new connection; a refused connection means the service no longer accepts (not a failure).
    """

    def __init__(
        self,
        port: int,
        clients: int = 8,
        max_requests: int = 20000,
        max_seconds: float = 20.0,
        path: str = "/api/health",
        requests_per_connection: int = 0,
    ) -> None:
        self.port, self.path = port, path
        # Reconnect after this many answers (0: keep the connection): a few keep-alive clients can
        # otherwise all land on one worker and leave the other idle.
        self.requests_per_connection = requests_per_connection
        self.result = LoadResult()
        self.lock = threading.Lock()
        self.stop_event = threading.Event()
        self.budget = max_requests
        self.deadline = time.monotonic() + max_seconds
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> LoadResult:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(30)
        return self.result

    def wait_for(self, ok: int, timeout: float = PATIENCE) -> None:
        """Wait until at least ``ok`` requests succeeded in total."""
        deadline = time.monotonic() + timeout
        while self.result.ok < ok:
            if time.monotonic() > deadline:
                raise AssertionError(f"load reached only {self.result} in {timeout}s")
            time.sleep(0.01)

    def _take(self) -> bool:
        with self.lock:
            if self.budget <= 0 or self.stop_event.is_set() or time.monotonic() > self.deadline:
                return False
            self.budget -= 1
            return True

    def _count(self, **increments: int) -> None:
        with self.lock:
            for name, value in increments.items():
                setattr(self.result, name, getattr(self.result, name) + value)

    def _client(self) -> None:
        conn: http.client.HTTPConnection | None = None
        answered_on_conn = 0
        while self._take():
            for attempt in (1, 2):
                if conn is None:
                    conn, answered_on_conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10), 0
                    try:
                        conn.connect()
                    except ConnectionRefusedError:
                        self._count(refused=1)
                        self.stop_event.set()  # the service is gone: nothing more to measure
                        return
                try:
                    conn.request("GET", self.path)
                    response = conn.getresponse()
                    body = response.read()
                except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as exc:
                    conn.close()
                    conn = None
                    if answered_on_conn and attempt == 1:
                        self._count(retried=1)
                        continue
                    self._fail(f"{type(exc).__name__}: {exc}")
                    break
                except (OSError, http.client.HTTPException) as exc:
                    conn.close()
                    conn = None
                    self._fail(f"{type(exc).__name__}: {exc}")
                    break
                answered_on_conn += 1
                if response.status == 200 and body:
                    self._count(ok=1)
                else:
                    self._fail(f"status {response.status}: {body[:200]!r}")
                if response.will_close or answered_on_conn == self.requests_per_connection:
                    conn.close()
                    conn = None
                break
        if conn is not None:
            conn.close()

    def _fail(self, error: str) -> None:
        with self.lock:
            self.result.failed += 1
            if len(self.result.errors) < 20:
                self.result.errors.append(error)


@pytest.fixture
def limited_database(server_dsn: str) -> Iterator[str]:
    """A database owned by a role that may hold only 2 connections (so workers cannot open their pools)."""
    suffix = uuid.uuid4().hex[:10]
    role, name = f"jaan_limited_{suffix}", f"jaan_test_{suffix}"
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE ROLE "{role}" LOGIN CONNECTION LIMIT 2')
        cur.execute(f'CREATE DATABASE "{name}" OWNER "{role}"')
    try:
        yield str(psycopg2.extensions.make_dsn(server_dsn, dbname=name, user=role))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            cur.execute(f'DROP ROLE IF EXISTS "{role}"')
        admin.close()
