"""The pre-fork master as real processes: start, readiness, respawn, crash loops, graceful stop."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import threading
import time

import psycopg2

from jaan.serving.budget import usable_cpus
from tests.serving.conftest import Load


def process_args(pid: int) -> str:
    shown = subprocess.run(["ps", "-o", "args=", "-p", str(pid)], capture_output=True, text=True)
    return shown.stdout.strip()


def test_workers_auto_starts_one_worker_per_usable_cpu_with_process_titles(serve):
    service = serve("--workers", "auto")
    expected = usable_cpus()
    assert service.workers == expected
    assert service.get()[0] == 200
    pids = service.worker_pids()
    assert sorted(pids) == list(range(1, expected + 1))
    assert process_args(service.status()["master"]["pid"]) == "jaan: master"
    for slot, pid in pids.items():
        assert process_args(pid) == f"jaan: worker {slot}"
    assert "connection budget" in service.stderr


def test_ready_line_comes_once_after_every_worker_is_ready_and_the_pid_file_is_written(serve, tmp_path):
    pid_file = tmp_path / "serve.pid"
    service = serve("--workers", "2", "--pid-file", str(pid_file))
    lines = service.stderr.splitlines()
    ready_at = next(i for i, line in enumerate(lines) if line.startswith("ready: "))
    assert lines[ready_at] == f"ready: 2 workers on http://127.0.0.1:{service.port}"
    assert sum("jaan.master: worker" in line and " ready (pid" in line for line in lines[:ready_at]) == 2
    assert pid_file.read_text().strip() == str(service.process.pid)


def test_kill_9_worker_is_replaced_and_the_service_keeps_answering(serve):
    service = serve("--workers", "2")
    victim = service.worker_pids()[1]
    with Load(service.port, clients=4, max_seconds=90) as load:
        load.wait_for(200, timeout=30)
        os.kill(victim, signal.SIGKILL)
        service.wait_until(
            lambda s: {w["slot"] for w in s["workers"] if w["state"] == "ready" and w["pid"] != victim} == {1, 2},
            timeout=30,
        )
        answered_before = load.result.ok
        load.wait_for(answered_before + 200, timeout=30)
    result = load.stop()
    assert f"worker 1 (pid {victim}) died" in service.stderr
    # Only requests in flight on the killed worker itself can fail (one per client at most).
    assert result.failed <= 4, result.errors
    assert service.get()[0] == 200
    assert service.status()["workers"][0]["restarts"] == 1


def test_sigterm_during_load_fails_no_request_and_exits_within_the_graceful_timeout(serve):
    service = serve("--workers", "2", "--graceful-timeout", "30")
    with Load(service.port, clients=8, max_seconds=90) as load:
        load.wait_for(300, timeout=30)
        service.signal(signal.SIGTERM)
        code = service.wait_exit(timeout=60)
    result = load.stop()
    assert code == 0, service.stderr[-2000:]
    # Within the graceful timeout: no worker had to cut requests short or be killed.
    assert "graceful timeout: cancelling" not in service.stderr and "past its deadline" not in service.stderr
    assert result.failed == 0, result.errors
    assert result.retried == 0  # every kept-alive client was told "Connection: close" first
    assert result.ok >= 300


def test_a_worker_that_cannot_start_makes_serve_exit_non_zero_with_the_reason(serve, limited_database):
    # The role may hold 2 connections; each pool wants 3 at start, so every worker fails at startup.
    service = serve(
        "--workers",
        "1",
        "--pool-min",
        "3",
        "--pool-max",
        "3",
        "--db-budget",
        "20",
        "--db-listen-connections",
        "0",
        "--max-restarts",
        "2",
        "--min-uptime",
        "1",
        dsn=limited_database,
        ready=False,
    )
    code = service.wait_exit(timeout=90)
    assert code == 1
    assert "giving up: workers failed to start 3 times in a row" in service.stderr
    assert "too many connections for role" in service.stderr
    assert "ready:" not in service.stderr


def test_serve_refuses_a_port_that_is_taken(serve):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        service = serve("--workers", "1", "--port", str(port), ready=False)
        assert service.wait_exit(timeout=60) == 1
    assert f"serve: cannot listen on 127.0.0.1:{port}: Address already in use" in service.stderr


def hold_a_request_in_flight(service, database: str):
    """A readiness request that waits on a table lock until the returned connection rolls back."""
    blocker = psycopg2.connect(database)
    with blocker.cursor() as cur:
        cur.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
    thread = threading.Thread(target=lambda: _ignore_errors(lambda: service.get("/api/health/ready", 10)))
    thread.start()
    service.wait_until(lambda s: any(w["in_flight"] for w in s["workers"]), timeout=30)
    return blocker, thread


def _ignore_errors(call):
    with contextlib.suppress(OSError):  # the worker may be stopped under it: that is the point
        call()


def test_graceful_timeout_bounds_the_stop_and_a_second_signal_stops_at_once(serve, shop_database):
    service = serve("--workers", "1", "--graceful-timeout", "1.5")
    blocker, thread = hold_a_request_in_flight(service, shop_database)
    try:
        started = time.monotonic()
        service.signal(signal.SIGTERM)
        assert service.wait_exit(timeout=60) == 0  # the request in flight would never end by itself
        assert time.monotonic() - started > 1.0  # the worker gave it its graceful time first
    finally:
        blocker.close()
        thread.join(10)

    patient = serve("--workers", "1", "--graceful-timeout", "600")
    blocker, thread = hold_a_request_in_flight(patient, shop_database)
    try:
        patient.signal(signal.SIGTERM)
        patient.wait_for_line("stop requested")
        patient.signal(signal.SIGTERM)
        patient.wait_exit(timeout=60)  # far below the 600 s of graceful time it would otherwise wait
        assert "second stop signal: killing workers now" in patient.stderr
    finally:
        blocker.close()
        thread.join(10)
