"""perf/run --topology DIR: the scenarios through the rehearsal's nginx, a host directly, the ceilings.

This checks the suite against the package's rehearsal, not the figures (one-second runs on a busy
machine mean nothing).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.deploy.conftest import ROOT, call, sql


@pytest.mark.timeout(300)
def test_perf_run_through_the_topology_measures_nginx_a_host_directly_and_the_ceilings(rehearsal, tmp_path):
    directory, topology = rehearsal
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "perf" / "run"),
            f"--topology={directory}",
            "--direct=1",
            # Earlier tests left products and users that bin/seed did not write.
            "--reset-data",
            "--quick",
            "--scenarios=health,products",  # the order runs' stock check is perf's own test's
            "--duration=1",
            "--warmup=0",
            f"--out={tmp_path}",
        ],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads((tmp_path / "latest" / "results.json").read_text())
    meta = results["meta"]
    assert meta["topology"]["url"] == topology["url"]
    assert meta["topology"]["hosts"] == [host["url"] for host in topology["hosts"]]
    # The hello ceiling ran with as many workers as the hosts have together (the rehearsal: 1 each).
    assert meta["workers"] == len(topology["hosts"])
    assert all(run["ok_rps"] > 0 for run in results["ceilings"]["hello"].values())
    assert results["ceilings"]["pgbench"]["list"]["tps"] > 0  # pgbench straight to the primary

    through, direct = results["scenarios"], results["direct"]["host1"]
    assert set(through) == set(direct) == {"health", "products"}
    for name in through:
        assert through[name]["requests"] > 0 and direct[name]["requests"] > 0, name
        assert through[name]["non_2xx"] == 0, (name, through[name]["statuses"])
        # nginx's own CPU is measured through nginx only; both ways the hosts' CPU is.
        assert through[name]["nginx_cpu_us_per_request"] > 0 and "nginx_cpu_s" not in direct[name], name
        assert through[name]["cpu_us_per_request"] > 0 and direct[name]["cpu_us_per_request"] > 0, name
    # The shop was seeded into the rehearsal's own database, through its primary.
    assert any("seeded the rehearsal's database" in note for note in results["notes"])
    seeded = sql(topology["primary"]["dsn"], "SELECT count(*) FROM users WHERE email = 'customer1@example.com'")
    assert seeded == [(1,)]

    report = (tmp_path / "latest" / "report.md").read_text()
    assert f"**through a topology** (`perf/run --topology {directory}`)" in report
    assert "2 hosts" in report
    assert "## Through nginx and each host directly" in report
    assert "| | host1 directly |" in report
    # Only perf's scratch directory is removed; the rehearsal keeps running.
    assert not (tmp_path / "latest" / "data").exists()
    assert call(topology["url"] + "/api/health").status == 200


def test_perf_run_refuses_topology_options_it_cannot_honour(tmp_path, capsys):
    from perf.suite import main

    (tmp_path / "topology.json").write_text(
        json.dumps({"url": "http://127.0.0.1:1", "hosts": [{"url": "http://127.0.0.1:2"}], "primary": {}, "nginx": {}})
    )
    refused = {
        "--direct and --reset-data go with --topology": ["--direct=all"],
        "no ": [f"--topology={tmp_path / 'nowhere'}"],
        "the rehearsal has hosts 0..0, not [1]": [f"--topology={tmp_path}", "--direct=1"],
        "all, or host indices": [f"--topology={tmp_path}", "--direct=first"],
        "--access-log": [f"--topology={tmp_path}", "--access-log=both"],
    }
    for said, argv in refused.items():
        assert main([*argv, f"--out={tmp_path / 'out'}"]) == 2, argv
        assert said in capsys.readouterr().err, argv
    assert not (tmp_path / "out").exists()
