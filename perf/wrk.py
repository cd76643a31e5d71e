"""Running wrk and reading its figures.

Every script ends with ``perf/scripts/report.lua``'s done(), which prints one ``PERF_JSON {...}``
line with wrk's own counters and latency percentiles, so nothing is scraped from wrk's text.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SCRIPTS = Path(__file__).resolve().parent / "scripts"
MARKER = "PERF_JSON "


class WrkError(RuntimeError):
    """wrk is missing, failed, or printed no figures."""


def wrk_binary() -> str:
    """The wrk executable, or a WrkError that says how to install it."""
    found = shutil.which("wrk")
    if found is None:
        raise WrkError("wrk is not installed: run `make perf` once, or `apt-get install -y wrk`")
    return found


def wrk_version() -> str:
    """wrk's version line (wrk prints it with its usage, exit status 1)."""
    done = subprocess.run([wrk_binary(), "--version"], capture_output=True, text=True, timeout=10, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip() if (done.stdout or done.stderr) else "wrk"


@dataclass
class WrkRun:
    """One wrk invocation: the URL, the load, the Lua script and what the script reads from the environment."""

    url: str
    connections: int
    duration: float
    threads: int
    script: str = "report.lua"
    headers: dict[str, str] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    count_status: bool = False
    timeout: float = 2.0  # wrk's default, stated: a response slower than this counts as a timeout

    def command(self) -> list[str]:
        """The wrk command line."""
        threads = max(1, min(self.threads, self.connections))
        args = [
            wrk_binary(),
            f"-t{threads}",
            f"-c{self.connections}",
            f"-d{max(1, round(self.duration))}s",
            f"--timeout={self.timeout:g}s",
            "-s",
            str(SCRIPTS / self.script),
        ]
        for name, value in self.headers.items():
            args += ["-H", f"{name}: {value}"]
        return [*args, self.url]


def run(spec: WrkRun) -> dict[str, Any]:
    """Run wrk to completion and return its figures (see ``figures``); WrkError when it fails."""
    env = {
        **os.environ,
        **spec.env,
        "PERF_LUA_DIR": str(SCRIPTS),
        "PERF_COUNT_STATUS": "1" if spec.count_status else "0",
        # Distinct Idempotency-Keys in every run, warm-ups included.
        "RUN_ID": uuid.uuid4().hex[:12],
    }
    # A run may take its duration plus the time to open and close thousands of connections.
    limit = spec.duration + 60 + spec.connections / 100
    try:
        done = subprocess.run(
            spec.command(), env=env, capture_output=True, text=True, timeout=limit, check=False, start_new_session=True
        )
    except subprocess.TimeoutExpired as exc:
        raise WrkError(f"wrk did not finish within {limit:.0f} s") from exc
    for line in done.stdout.splitlines():
        if line.startswith(MARKER):
            return figures(json.loads(line[len(MARKER) :]), spec.connections)
    raise WrkError(f"wrk exited {done.returncode} without figures: {(done.stderr or done.stdout).strip()[-500:]}")


def figures(raw: dict[str, Any], connections: int) -> dict[str, Any]:
    """The figures of one run from report.lua's JSON: rates, latencies in ms, errors by kind.

    ``non_2xx`` is exact when the script counted statuses; otherwise it is wrk's own count of
    responses with status ≥ 400 (no scenario expects a 3xx, so the two agree).
    """
    seconds = max(raw["duration_us"] / 1e6, 1e-9)
    statuses = {str(code): int(count) for code, count in raw.get("statuses", {}).items()}
    if statuses:
        ok = sum(count for code, count in statuses.items() if 200 <= int(code) < 300)
        non_2xx = sum(statuses.values()) - ok
    else:
        non_2xx = int(raw["errors"]["status"])
        ok = int(raw["requests"]) - non_2xx
    errors = raw["errors"]
    socket_errors = {kind: int(errors[kind]) for kind in ("connect", "read", "write", "timeout")}
    latency = {key: round(value / 1000, 2) for key, value in raw["latency_us"].items()}
    return {
        "connections": connections,
        "duration_s": round(seconds, 2),
        "requests": int(raw["requests"]),
        "rps": round(raw["requests"] / seconds, 1),
        "ok_rps": round(ok / seconds, 1),
        "latency_ms": latency,
        "non_2xx": non_2xx,
        "statuses": statuses,
        "socket_errors": socket_errors,
        "socket_errors_total": sum(socket_errors.values()),
        "mb_read": round(raw["bytes"] / 2**20, 1),
    }
