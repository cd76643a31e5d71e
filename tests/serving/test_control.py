"""``bin/serve status|reload|scale|stop`` against a running master, through its control socket."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import sys

import psycopg2
import pytest

from tests.serving.conftest import BIN_SERVE, Load, Service


def steer(service: Service, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BIN_SERVE), *args, "--data-dir", str(service.data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_status_lists_every_worker_with_its_counters_pool_and_monitor(serve):
    service = serve("--workers", "2")
    for _ in range(5):
        assert service.get()[0] == 200
    shown = steer(service, "status", "--json")
    assert shown.returncode == 0, shown.stderr
    snap = json.loads(shown.stdout)
    assert snap["master"]["state"] == "ready"
    assert [w["slot"] for w in snap["workers"]] == [1, 2]
    for worker in snap["workers"]:
        assert worker["state"] == "ready" and worker["rss"] > 10 * 2**20 and worker["restarts"] == 0
        assert set(worker["pool"]) >= {"size", "free", "waiting"}
        assert worker["monitor"]["terminal"] >= service.monitor_base
        assert {"pid", "uptime", "requests", "in_flight"} <= set(worker)
    service.wait_until(lambda s: sum(w["requests"] for w in s["workers"]) >= 5)

    table = steer(service, "status")
    assert table.returncode == 0
    header = next(line for line in table.stdout.splitlines() if line.startswith("slot"))
    for column in ("pid", "state", "uptime", "rss", "requests", "in_flight", "restarts", "pool", "monitor"):
        assert column in header
    assert sum(line.split()[0] in ("1", "2") for line in table.stdout.splitlines()) == 2


def test_control_socket_is_private_to_the_service_user(serve):
    service = serve("--workers", "1")
    mode = (service.data_dir / "run" / "serve.sock").stat().st_mode
    assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o600


def test_commands_say_so_when_no_service_runs(tmp_path):
    result = subprocess.run(
        [sys.executable, str(BIN_SERVE), "status", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 1
    assert "no bin/serve is running" in result.stderr


def test_stop_command_stops_the_master_gracefully(serve):
    service = serve("--workers", "2")
    result = steer(service, "stop")
    assert result.returncode == 0, result.stderr
    assert "stopped" in result.stdout
    assert service.wait_exit(timeout=30) == 0
    assert not (service.data_dir / "run" / "serve.sock").exists()


def test_sighup_during_load_replaces_every_worker_without_failing_a_request(serve):
    service = serve("--workers", "2")
    before = service.worker_pids()
    with Load(service.port, clients=8, max_seconds=120) as load:
        load.wait_for(200)
        service.signal(signal.SIGHUP)
        snap = service.wait_until(lambda s: s["master"]["reload"]["state"] == "done", timeout=60)
        load.wait_for(load.result.ok + 200)
    result = load.stop()
    after = {w["slot"]: w["pid"] for w in snap["workers"] if w["state"] == "ready"}
    assert sorted(after) == [1, 2]
    assert not set(after.values()) & set(before.values())
    assert result.failed == 0, result.errors
    assert result.retried == 0  # every kept-alive client was told "Connection: close" first


def test_reload_command_waits_for_the_reload_and_reports_it(serve):
    service = serve("--workers", "2")
    before = set(service.worker_pids().values())
    result = steer(service, "reload")
    assert result.returncode == 0, result.stderr
    assert "reload done" in result.stdout
    assert not before & set(service.worker_pids().values())


def test_reload_aborts_when_a_replacement_never_becomes_ready_and_old_workers_keep_serving(
    serve, shop_database, server_dsn
):
    service = serve("--workers", "2")
    before = service.worker_pids()
    name = psycopg2.extensions.parse_dsn(shop_database)["dbname"]
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    try:
        with admin.cursor() as cur:  # new connections are refused; the open pools keep theirs
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        result = steer(service, "reload")
        assert result.returncode == 1
        assert "reload aborted" in result.stdout
        assert "not currently accepting connections" in result.stdout
        assert service.worker_pids() == before
        assert service.get()[0] == 200
    finally:
        with admin.cursor() as cur:
            cur.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        admin.close()


@pytest.mark.parametrize("how", ["command", "signals"])
def test_scale_up_and_down_at_runtime_within_the_connection_budget(serve, how):
    service = serve("--workers", "2", "--db-budget", "9")
    if how == "command":
        assert steer(service, "scale", "3").returncode == 0
    else:
        service.signal(signal.SIGTTIN)
    snap = service.wait_until(
        lambda s: sorted(w["slot"] for w in s["workers"] if w["state"] == "ready") == [1, 2, 3], timeout=60
    )
    # Four pools (three workers and a replacement's) of one connection plus one LISTEN each fit in 9.
    assert all(w["pool"]["max"] == 1 for w in snap["workers"])
    assert service.get()[0] == 200
    if how == "command":
        assert steer(service, "scale", "1").returncode == 0
        wanted = [1]
    else:
        service.signal(signal.SIGTTOU)
        wanted = [1, 2]
    service.wait_until(lambda s: sorted(w["slot"] for w in s["workers"]) == wanted, timeout=60)
    assert service.get()[0] == 200
