"""Workers replaced for their own good: hung loops, too much memory, too many requests."""

from __future__ import annotations

import contextlib
import os
import signal

from tests.serving.conftest import Load


def test_a_worker_whose_loop_stops_beating_is_aborted_with_a_stack_dump_and_replaced(serve):
    service = serve("--workers", "2", "--timeout", "1")
    hung = service.worker_pids()[1]
    os.kill(hung, signal.SIGSTOP)  # its event loop stops, exactly like one stuck in a handler
    try:
        service.wait_until(
            lambda s: any(w["slot"] == 1 and w["state"] == "ready" and w["pid"] != hung for w in s["workers"]),
            timeout=60,
        )
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(hung, signal.SIGKILL)
    service.wait_for_line(rf"worker 1 \(pid {hung}\) sent no heartbeat for")
    service.wait_for_line(r"Fatal Python error: Aborted")  # faulthandler's dump of every thread
    service.wait_for_line(rf"worker 1 \(pid {hung}\) died after .*killed by SIG(ABRT|KILL)")
    assert service.get()[0] == 200


def test_a_worker_over_max_memory_is_replaced_by_a_ready_one_before_it_drains(serve):
    service = serve("--workers", "2", "--max-memory", "1")  # every worker is over 1 MB
    first = service.worker_pids()
    with Load(service.port, clients=6, max_seconds=120) as load:
        load.wait_for(100)
        service.wait_until(lambda s: not {w["pid"] for w in s["workers"]} & set(first.values()), timeout=60)
        load.wait_for(load.result.ok + 100)
    result = load.stop()
    assert result.failed == 0, result.errors
    lines = service.stderr.splitlines()
    over = next(i for i, line in enumerate(lines) if f"(pid {first[1]}) uses" in line)
    takes_over = next(i for i, line in enumerate(lines) if f"takes over from pid {first[1]}" in line)
    stopped = next(i for i, line in enumerate(lines) if f"(pid {first[1]}) stopped" in line)
    assert over < takes_over < stopped


def test_max_requests_recycles_workers_gracefully(serve):
    service = serve("--workers", "2", "--max-requests", "100", "--max-requests-jitter", "20")
    first = set(service.worker_pids().values())
    # New connections every 10 requests, so both workers get traffic and reach their limit.
    with Load(service.port, clients=6, max_requests=2000, max_seconds=120, requests_per_connection=10) as load:
        service.wait_until(lambda s: not {w["pid"] for w in s["workers"]} & first, timeout=60)
    result = load.stop()
    assert result.failed == 0, result.errors
    assert "requests: recycling it" in service.stderr
