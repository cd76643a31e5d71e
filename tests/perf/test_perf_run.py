"""perf/run --quick works end to end: a tiny data set, every scenario, both ceilings, the three outputs,
and the access log's twin.

This checks the suite, not the service's speed (the figures of a one-second run mean nothing).
One quick run serves every test here: seeding, serving and the ceilings are most of its time, and a
second run only to compare the access log on and off cost the suite another half-minute.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIGURES = ("rps", "ok_rps", "requests", "non_2xx", "socket_errors_total")
LATENCIES = ("p50", "p90", "p99")


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The results directory of one ``perf/run --quick``, with the access log's twin for health alone."""
    if shutil.which("wrk") is None:
        pytest.fail("wrk is not installed: run `make perf` once, or `apt-get install -y wrk`")
    out = tmp_path_factory.mktemp("perf")
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "perf" / "run"),
            "--quick",
            "--duration=1",
            "--warmup=0",
            "--access-log=both",
            "--access-log-scenarios=health",
            "--rounds=2",
            f"--out={out}",
        ],
        capture_output=True,
        text=True,
        # About a minute on a quiet machine; it took over 220 s at a load average of 10 on 2 cores.
        timeout=480,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return out


@pytest.mark.timeout(540)
def test_quick_run_writes_every_scenario_report_and_chart(quick_run: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from perf.scenarios import SCENARIOS

    latest = quick_run / "latest"
    assert latest.is_symlink()
    results = json.loads((latest / "results.json").read_text())
    assert set(results["scenarios"]) == {scenario.name for scenario in SCENARIOS}
    for name, run in results["scenarios"].items():
        assert "error" not in run, (name, run)
        for figure in FIGURES:
            assert isinstance(run[figure], int | float) and math.isfinite(run[figure]), (name, figure)
        for percentile in LATENCIES:
            assert isinstance(run["latency_ms"][percentile], int | float), (name, percentile)
        assert run["requests"] > 0, name
        assert run["memory"]["total_pss_mb"] > 0, name
        assert run["db_connections"]["peak"] > 0, name
    assert results["scenarios"]["orders"]["stock_exact"] is True
    assert results["scenarios"]["mixed"]["stock_exact"] is True
    assert set(results["ceilings"]["hello"]) >= {"200", "5000"}
    assert all("ok_rps" in run for run in results["ceilings"]["hello"].values())
    assert {name: "tps" in run for name, run in results["ceilings"]["pgbench"].items()} == {"list": True, "slug": True}
    assert results["timeline"]["products_c5000"]

    # The complete record: what ran, on what, with which settings, and the verdicts.
    meta = results["meta"]
    assert meta["command"].startswith("perf/run --quick") and meta["serve_command"].startswith("bin/serve ")
    assert meta["settings"]["access_log"] is True and meta["settings"]["workers"] == "auto"
    assert len(meta["machine"]["loads_before"]) == 3 and len(meta["machine"]["loads_after"]) == 3
    assert {row["scenario"] for row in results["targets"]} >= {"mixed", "orders", "health", "products_c5000"}
    assert all(row["met"] in (True, False) for row in results["targets"]), results["targets"]
    assert results["scenarios"]["health"]["vs_hello"] > 0

    # Where the mix goes: read from the service's own /metrics and pg_stat_statements around the run.
    found = results["scenarios"]["mixed"]["breakdown"]
    routes = {route["route"]: route for route in found["routes"]}
    assert {"GET /api/products", "GET /api/products/slug/{slug}", "POST /api/orders"} <= set(routes)
    assert sum(route["requests"] for route in routes.values()) == found["requests"] > 0
    assert abs(sum(route["share"] for route in routes.values()) - 1) < 0.01
    assert (
        found["response_cache"]["by_entry"]["products"]["hit"] + found["response_cache"]["by_entry"]["products"]["miss"]
        > 0
    )
    assert found["invalidations"]["orders_placed"] > 0 and found["invalidations"]["entries_dropped"]
    assert found["pool"]["acquires"] > 0 and found["round_trips"]["count"] > 0
    statements = found["statements"]
    assert "error" not in statements, statements
    assert statements["calls"] > 0 and statements["top"][0]["total_ms"] > 0, statements

    report = (latest / "report.md").read_text()
    assert "## Targets (issue 14)" in report and "## Where the mixed scenario goes" in report
    assert (latest / "chart.png").read_bytes().startswith(b"\x89PNG")
    # The scratch database is gone; only the results stay.
    assert not (latest / "data").exists()


@pytest.mark.timeout(540)
def test_access_log_both_measures_the_scenarios_asked_for_with_a_twin_that_has_it_off(quick_run: Path) -> None:
    results = json.loads((quick_run / "latest" / "results.json").read_text())
    assert results["meta"]["options"]["access_log"] == "both"
    assert results["meta"]["options"]["access_log_scenarios"] == ["health"]
    # Only the scenario asked for ran against the twin; every other ran once, against the service.
    assert set(results["access_log_off"]) == {"health"}
    assert "access_log_rounds" not in results["scenarios"]["products"]
    on, off = results["scenarios"]["health"], results["access_log_off"]["health"]
    assert on["ok_rps"] > 0 and off["ok_rps"] > 0
    assert on["cpu_us_per_request"] > 0 and off["cpu_us_per_request"] > 0
    assert "access_log_cost" in on and "access_log_cpu_cost" in on
    assert len(on["access_log_rounds"]) == 2
    assert "## Access log on (the default) and off" in (quick_run / "latest" / "report.md").read_text()
    # The twin wrote no access log; the service did.
    logs = quick_run / "latest" / "logs"
    assert "jaan.access" in (logs / "serve.log").read_text()
    assert "jaan.access" not in (logs / "twin" / "serve.log").read_text()


def test_access_log_scenarios_go_with_access_log_both_and_known_names(tmp_path: Path, capsys) -> None:
    sys.path.insert(0, str(ROOT))
    from perf.suite import main

    refused = {
        "--access-log-scenarios goes with --access-log both": ["--access-log-scenarios=health"],
        "unknown scenario(s): nothing": ["--access-log=both", "--access-log-scenarios=nothing"],
    }
    for said, argv in refused.items():
        assert main([*argv, f"--out={tmp_path / 'out'}"]) == 2, argv
        assert said in capsys.readouterr().err, argv
    assert not (tmp_path / "out").exists()
