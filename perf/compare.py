"""``perf/run --compare A B``: two runs side by side with B's change from A (no load is generated).

A and B are results directories (``perf/results/latest``, ``perf/results/<timestamp>``) or
results.json files (``perf/baselines/<name>.json``). Throughput changes are relative (+12%),
latency changes in milliseconds and relative, ratios to the ceiling in percentage points: on a
shared box the ratios (each run against its own ceiling) move less than the raw figures.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from perf.report import evaluate_targets

Results = dict[str, Any]


def load(path: Path) -> Results:
    """A run's results.json, given the file or the directory that holds it."""
    file = path / "results.json" if path.is_dir() else path
    if not file.exists():
        raise ValueError(f"no results.json at {path}")
    results: Results = json.loads(file.read_text())
    if not isinstance(results, dict) or "scenarios" not in results or "meta" not in results:
        raise ValueError(f"{file} is not a perf/run results.json")
    results.setdefault("ceilings", {})
    return results


def _fmt(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _relative(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "–"
    if a == 0:
        return "–" if b == 0 else "new"
    return f"{(b - a) / a:+.1%}"


def _latency_change(a: float | None, b: float | None) -> str:
    if a is None or b is None:
        return "–"
    return f"{b - a:+,.1f} ({_relative(a, b)})"


def _points(a: float | None, b: float | None) -> str:
    return "–" if a is None or b is None else f"{(b - a) * 100:+.1f} pts"


def _figures(name: str, run: dict[str, Any] | None) -> dict[str, float | None]:
    if not run or "error" in run:
        return {"rps": None, "p50": None, "p99": None, "vs_hello": None}
    latency = run.get("latency_ms", {})
    # The order run is read in orders created per second (its target's unit), the others in 2xx req/s.
    rate = run.get("orders_per_s") if name == "orders" else run.get("ok_rps")
    return {"rps": rate, "p50": latency.get("p50"), "p99": latency.get("p99"), "vs_hello": run.get("vs_hello")}


def describe(name: str, results: Results) -> str:
    """One line saying which run this is and how busy the box was."""
    meta = results["meta"]
    machine = meta.get("machine", {})
    dirty = " (uncommitted changes)" if meta.get("dirty") else ""
    label = f" — {meta['label']}" if meta.get("label") else ""
    return (
        f"{name}: {meta.get('started', '?')}, commit {str(meta.get('commit', '?'))[:10]}{dirty},"
        f" {meta.get('workers', '?')} workers,"
        f" load {machine.get('load_before', '?')} → {machine.get('load_after', '?')}"
        f"{' (quick)' if meta.get('options', {}).get('quick') else ''}{label}"
    )


def _names(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return list(a) + [name for name in b if name not in a]


def render(a: Results, b: Results) -> str:
    """The comparison as Markdown text."""
    lines = [
        describe("A", a),
        describe("B", b),
        "",
        "| scenario | req/s A | req/s B | change | p50 ms A | B | change | p99 ms A | B | change"
        " | vs hello A | B | change |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in _names(a["scenarios"], b["scenarios"]):
        x, y = _figures(name, a["scenarios"].get(name)), _figures(name, b["scenarios"].get(name))
        lines.append(
            f"| {name} | {_fmt(x['rps'])} | {_fmt(y['rps'])} | {_relative(x['rps'], y['rps'])}"
            f" | {_fmt(x['p50'], 1)} | {_fmt(y['p50'], 1)} | {_latency_change(x['p50'], y['p50'])}"
            f" | {_fmt(x['p99'], 1)} | {_fmt(y['p99'], 1)} | {_latency_change(x['p99'], y['p99'])}"
            f" | {_ratio(x['vs_hello'])} | {_ratio(y['vs_hello'])} | {_points(x['vs_hello'], y['vs_hello'])} |"
        )
    hello_a, hello_b = a["ceilings"].get("hello", {}), b["ceilings"].get("hello", {})
    bench_a, bench_b = a["ceilings"].get("pgbench", {}), b["ceilings"].get("pgbench", {})
    lines += ["", "| ceiling | A | B | change |", "|---|---:|---:|---:|"]
    for connections in _names(hello_a, hello_b):
        x, y = hello_a.get(connections, {}).get("ok_rps"), hello_b.get(connections, {}).get("ok_rps")
        lines.append(f"| hello at {int(connections):,} conns, req/s | {_fmt(x)} | {_fmt(y)} | {_relative(x, y)} |")
    for name in _names(bench_a, bench_b):
        x, y = bench_a.get(name, {}).get("tps"), bench_b.get(name, {}).get("tps")
        lines.append(f"| pgbench {name} SQL, tps | {_fmt(x)} | {_fmt(y)} | {_relative(x, y)} |")
    # Both against today's targets, whatever the targets were when each run was made.
    targets_a = {row["scenario"]: row for row in evaluate_targets(a)}
    targets_b = {row["scenario"]: row for row in evaluate_targets(b)}
    lines += ["", "| target | A | B |", "|---|---|---|"]
    for scenario, row in targets_b.items():
        lines.append(f"| {row['title']}: {row['target']} | {_met(targets_a[scenario])} | {_met(row)} |")
    lines += breakdowns(a, b)
    return "\n".join(lines)


def breakdowns(a: Results, b: Results) -> list[str]:
    """Where each scenario both runs broke down went: per route share and cache hit rate, then the totals."""
    lines: list[str] = []
    for name in _names(a["scenarios"], b["scenarios"]):
        x = (a["scenarios"].get(name) or {}).get("breakdown") or {}
        y = (b["scenarios"].get(name) or {}).get("breakdown") or {}
        if not x or not y or "error" in x or "error" in y:
            continue
        routes_x = {route["route"]: route for route in x["routes"]}
        routes_y = {route["route"]: route for route in y["routes"]}
        lines += [
            "",
            f"Where {name} went:",
            "",
            "| route | share A | B | share of time A | B | mean ms A | B |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for route in _names(routes_x, routes_y):
            rx, ry = routes_x.get(route, {}), routes_y.get(route, {})
            lines.append(
                f"| {route} | {_ratio(rx.get('share'))} | {_ratio(ry.get('share'))}"
                f" | {_ratio(rx.get('time_share'))} | {_ratio(ry.get('time_share'))}"
                f" | {_fmt(rx.get('mean_ms'), 1)} | {_fmt(ry.get('mean_ms'), 1)} |"
            )
        entries_x, entries_y = x["response_cache"]["by_entry"], y["response_cache"]["by_entry"]
        lines += ["", "| figure | A | B |", "|---|---:|---:|"]
        for entry in _names(entries_x, entries_y):
            hit_x, hit_y = entries_x.get(entry, {}).get("hit_rate"), entries_y.get(entry, {}).get("hit_rate")
            lines.append(f"| cache hit rate: {entry} | {_ratio(hit_x)} | {_ratio(hit_y)} |")
        per_order_x = x["invalidations"]["entries_dropped_per_order"]
        per_order_y = y["invalidations"]["entries_dropped_per_order"]
        patched_x = x["invalidations"].get("patched_per_order")
        patched_y = y["invalidations"].get("patched_per_order")
        lines += [
            f"| cached answers dropped per order | {_fmt(per_order_x, 2)} | {_fmt(per_order_y, 2)} |",
            f"| changes patched in place per order | {_fmt(patched_x, 2)} | {_fmt(patched_y, 2)} |",
            f"| connections that waited over 1 ms | {_ratio(x['pool']['waited_share'])}"
            f" | {_ratio(y['pool']['waited_share'])} |",
            f"| database round trips per request | {_fmt(x['round_trips']['per_request'], 2)}"
            f" | {_fmt(y['round_trips']['per_request'], 2)} |",
        ]
    return lines


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _met(row: dict[str, Any]) -> str:
    verdict = {True: "met", False: "not met", None: "not run"}[row["met"]]
    return verdict if row["met"] is None else f"{verdict}: {row['measured']}"
