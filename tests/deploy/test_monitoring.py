"""deploy/: the Prometheus rules parse and fire as meant, and the dashboard and rules use only real metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from jaan import metrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
ALERTS = DEPLOY / "prometheus" / "alerts.yml"
DASHBOARD = DEPLOY / "grafana" / "jaan.json"
# The series a histogram or counter family exposes besides its own name.
SUFFIXES = ("_bucket", "_count", "_sum", "_created")


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is not installed: `make test` installs it (apt-get install prometheus)")
    return found


def rules() -> list[dict[str, Any]]:
    document = yaml.safe_load(ALERTS.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def dashboard_expressions() -> list[str]:
    document = json.loads(DASHBOARD.read_text())
    return [target["expr"] for panel in document["panels"] for target in panel.get("targets", [])]


def metric_names(expression: str) -> set[str]:
    return set(re.findall(r"\bjaan_[a-z_]+", expression))


def known(name: str) -> bool:
    declared = metrics.declared()
    return name in declared or any(name.endswith(s) and name.removesuffix(s) in declared for s in SUFFIXES)


def test_the_rules_have_the_structure_prometheus_reads():
    assert rules(), "no rules"
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert isinstance(rule["alert"], str) and isinstance(rule["expr"], str)
        assert rule["labels"]["severity"] in ("page", "warn")
        assert rule["annotations"]["summary"]
    names = {rule["alert"] for rule in rules()}
    assert {"JaanHigh5xxRate", "JaanSlowP99", "JaanDatabasePoolWaiting", "JaanWorkersRestarting"} <= names
    assert "JaanListenDown" in names


def test_promtool_accepts_the_rules_and_the_config_and_each_alert_fires_as_its_test_says():
    tool = promtool()
    for command in (
        [tool, "check", "rules", str(ALERTS)],
        [tool, "check", "config", str(DEPLOY / "prometheus" / "prometheus.yml")],
        [tool, "test", "rules", str(DEPLOY / "prometheus" / "alerts.test.yml")],
    ):
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=DEPLOY / "prometheus")
        assert done.returncode == 0, done.stdout + done.stderr


def test_every_metric_the_rules_and_the_dashboard_use_is_declared():
    used = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    used |= set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    assert {"jaan_http_requests_total", "jaan_listen_up", "jaan_worker_restarts_total"} <= used
    assert sorted(name for name in used if not known(name)) == []


def test_the_dashboard_shows_every_declared_metric():
    used = set().union(*(metric_names(expr) for expr in dashboard_expressions()))
    shown = {name for name in metrics.declared() if any(u == name or u.startswith(name + "_") for u in used)}
    assert shown == set(metrics.declared())
