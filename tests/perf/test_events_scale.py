"""perf/events.py works end to end at a tiny scale (its figures at this scale mean nothing)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_a_tiny_events_run_counts_every_stream_and_delivers_every_event(tmp_path: Path) -> None:
    out = tmp_path / "events.json"
    scale = ["--idle=40", "--fanout=10", "--events=2", "--health=5", "--workers=1"]
    done = subprocess.run(
        [sys.executable, "-m", "perf.events", *scale, f"--out={out}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = json.loads(out.read_text())
    assert results["status_subscribers"] == 40
    assert results["health_while_idle"]["failures"] == 0
    assert results["fanout_missing"] == 0 and results["fanout_all_deliveries"]["count"] == 20
