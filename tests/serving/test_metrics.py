"""/metrics of a real bin/serve: the whole service in every scrape, whichever worker answers it."""

from __future__ import annotations

import http.client
import re
import signal
import subprocess
import sys

from tests.serving.conftest import BIN_SERVE, Load
from tests.web.test_http_metrics import sample


def scrape(service, **headers: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=10)
    try:
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def health_requests(text: str) -> float:
    return sample(text, "jaan_http_requests_total", method="GET", route="/api/health", status="200")


def test_every_request_over_both_workers_counts_once_and_a_reload_keeps_the_totals(serve):
    service = serve("--workers", "2")
    status, before = scrape(service)
    assert status == 200
    served_before = {w["slot"]: w["requests"] for w in service.status()["workers"]}
    # New connections every 5 requests, so both workers answer some of them.
    load = Load(service.port, clients=4, max_requests=400, max_seconds=60, requests_per_connection=5)
    with load:
        load.wait_for(400, timeout=60)
    result = load.stop()
    assert (result.ok, result.failed) == (400, 0), result.errors
    status, after = scrape(service)
    assert health_requests(after) - health_requests(before) == 400
    # Both workers served part of them (their own counters, reported by heartbeat).
    service.wait_until(
        lambda s: all(w["requests"] > served_before.get(w["slot"], 0) + 10 for w in s["workers"]), timeout=10
    )
    # Counts are tallied in each worker and written in batches (metrics.Tally): a scrape right after
    # the answers still shows every one of them, whichever worker answers it or answered them.
    for _ in range(5):
        for _ in range(10):
            assert service.get()[0] == 200
        status, now = scrape(service)
        assert health_requests(now) - health_requests(after) == 10
        after = now

    reload = subprocess.run(
        [sys.executable, str(BIN_SERVE), "reload", "--data-dir", str(service.data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert reload.returncode == 0, reload.stdout + reload.stderr
    status, reloaded = scrape(service)  # answered by a new worker, about counts of the old ones
    assert health_requests(reloaded) == health_requests(after)
    assert sample(reloaded, "jaan_worker_restarts_total", reason="reload") == 2
    assert sample(reloaded, "jaan_workers", state="ready") == 2
    assert sample(reloaded, "jaan_listen_up") == 1


def test_a_scrape_for_a_client_that_is_not_loopback_is_refused(serve):
    # Behind a trusted proxy (here: loopback), the client is the one X-Forwarded-For names.
    service = serve("--workers", "1", "--trusted-proxies", "127.0.0.1")
    status, body = scrape(service, **{"X-Forwarded-For": "198.51.100.20"})
    assert status == 403 and "jaan_" not in body
    assert scrape(service)[0] == 200


def test_recycled_workers_keep_their_counts_and_leave_no_file_per_worker(serve):
    service = serve("--workers", "2", "--max-requests", "60")
    first = set(service.worker_pids().values())
    # Load until both first workers are recycled: which worker accepts a new connection is the
    # kernel's choice, and on a busy machine one of them may get far fewer requests than the other
    # (a fixed 500 left one below 60). The load is still bounded (requests and seconds).
    load = Load(service.port, clients=4, max_requests=20_000, max_seconds=90, requests_per_connection=5)
    with load:
        service.wait_until(lambda s: not {w["pid"] for w in s["workers"]} & first, timeout=90)
    result = load.stop()
    assert result.ok >= 120 and result.failed == 0, (result.ok, result.errors)
    # Recycled: both first workers are gone (their counts folded into the archive files).
    snap = service.wait_until(lambda s: not {w["pid"] for w in s["workers"]} & first, timeout=30)
    status, text = scrape(service)
    assert status == 200
    # Every answered request counted once: the retired workers' and the live ones' alike.
    assert health_requests(text) == result.ok
    assert sample(text, "jaan_worker_restarts_total", reason="max_requests") >= 2
    files = {path.name for path in (service.data_dir / "run" / "metrics").glob("counter_*.db")}
    live = {str(w["pid"]) for w in snap["workers"]} | {str(service.status()["master"]["pid"]), "archive"}
    assert {name.removeprefix("counter_").removesuffix(".db") for name in files} <= live


def test_the_access_log_of_a_real_worker_is_escaped_and_complete_after_a_stop(serve):
    service = serve("--workers", "1", "--access-log", "true")
    assert service.get("/api/xx%0aFORGED-LOG-LINE")[0] == 404
    service.wait_for_line(r'jaan\.access: 127\.0\.0\.1 "GET /api/xx\\x0aFORGED-LOG-LINE" 404 ')
    assert not any(line.startswith("FORGED") for line in service.stderr.splitlines())
    # Every line is out by the time the service has stopped.
    assert service.get("/api/health")[0] == 200
    service.signal(signal.SIGTERM)
    assert service.wait_exit(60) == 0
    assert re.search(r'jaan\.access: 127\.0\.0\.1 "GET /api/health" 200 ', service.stderr)
