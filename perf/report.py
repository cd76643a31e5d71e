"""The run's outputs: results.json (everything), report.md (the tables to read), chart.png."""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from perf import breakdown
from perf.scenarios import BY_NAME, TARGETS, recovery_s


def _num(value: float | None, digits: int = 0) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def _met(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "–"}[met]


def evaluate_targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Issue 14's targets table, each with what was measured and whether it is met."""
    rows = []
    for target in TARGETS:
        met, measured = target.check(results)
        title = BY_NAME[target.scenario].title if target.scenario in BY_NAME else "memory (PSS, all processes)"
        rows.append(
            {
                "scenario": target.scenario,
                "title": title,
                "target": target.wanted,
                "at_start": target.at_start,
                "measured": measured,
                "met": met,
            }
        )
    return rows


def write_json(results: dict[str, Any], path: Path) -> None:
    """Every figure of the run, for machines (and for comparing runs)."""
    path.write_text(json.dumps(results, indent=2, sort_keys=False, default=str) + "\n")


def scenario_table(results: dict[str, Any]) -> list[str]:
    """The per-scenario figures as Markdown rows (also pasted into perf/README.md)."""
    lines = [
        "| scenario | conns | req/s | p50 ms | p90 ms | p99 ms | non-2xx | socket errors c/r/w/t |"
        " PSS MB (RSS) | DB conns | vs hello | vs pgbench |",
        "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|",
    ]
    for name, run in results["scenarios"].items():
        if "error" in run:
            lines.append(f"| {run['title']} | | failed: {run['error']} | | | | | | | | | |")
            continue
        errors = run["socket_errors"]
        memory = run.get("memory", {})
        db = run.get("db_connections", {})
        lines.append(
            f"| {run['title']} | {run['connections']:,} | {_num(run['ok_rps'])} | {_num(run['latency_ms']['p50'], 1)}"
            f" | {_num(run['latency_ms']['p90'], 1)} | {_num(run['latency_ms']['p99'], 1)} | {run['non_2xx']:,}"
            f" | {errors['connect']}/{errors['read']}/{errors['write']}/{errors['timeout']}"
            f" | {_num(memory.get('total_pss_mb'))} ({_num(memory.get('total_rss_mb'))})"
            f" | {db.get('peak', '–')} | {_ratio(run.get('vs_hello'))} | {_ratio(run.get('vs_pgbench'))} |"
        )
        del name
    return lines


def access_log_table(results: dict[str, Any]) -> list[str]:
    """With ``--access-log both``: each scenario with the access log on (the default) and off."""
    off_runs = results.get("access_log_off", {})
    if not off_runs:
        return []
    lines = [
        "",
        "## Access log on (the default) and off",
        "",
        "The scenarios above ran against the service with its access log on (the default); a twin"
        " `bin/serve --access-log false` on the same database ran each one right after it (with `--rounds N`,"
        " N times, alternating which went first; the figures are the last round's). Cost = 1 − on/off, the"
        " median over the rounds of each round's ratio."
        " CPU µs/req is the server processes' CPU time (master + workers) per request wrk sent: on a busy"
        " machine it moves less than req/s does.",
        "",
        "| scenario | on req/s | off req/s | on/off | cost | on vs hello | off vs hello"
        " | CPU µs/req on | off | CPU cost | on/off per round |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for name, off in off_runs.items():
        on = results["scenarios"].get(name, {})
        if "error" in off or "error" in on:
            why = on.get("error") or off.get("error")
            lines.append(f"| {off.get('title', name)} | failed: {why} |" + " |" * 9)
            continue
        ratio = 1 - on["access_log_cost"] if "access_log_cost" in on else None
        rounds = [r for r in on.get("access_log_rounds", []) if r["off_rps"]]
        per_round = ", ".join(f"{r['on_rps'] / r['off_rps']:.2f}" for r in rounds)
        lines.append(
            f"| {off['title']} | {_num(on['ok_rps'])} | {_num(off['ok_rps'])} | {_ratio(ratio)}"
            f" | {_ratio(on.get('access_log_cost'))} | {_ratio(on.get('vs_hello'))} | {_ratio(off.get('vs_hello'))}"
            f" | {_num(on.get('cpu_us_per_request'), 1)} | {_num(off.get('cpu_us_per_request'), 1)}"
            f" | {_ratio(on.get('access_log_cpu_cost'))}"
            f" | {per_round} |"
        )
    return lines


def service_line(meta: dict[str, Any]) -> str:
    """The header's line on what served the load: our bin/serve, or a rehearsal's topology."""
    budget = meta["budget"]
    pools = f"connection budget {budget['total']} ({budget['workers']} pools of max {budget['pool_max']})"
    data = " / ".join(f"{n:,} {k}" for k, n in meta["data_set"].items())
    topology = meta.get("topology")
    if not topology:
        workers = f"`bin/serve --workers {meta['options']['workers']}` = {meta['workers']} workers"
        return f"- service: {workers}; {pools}; data set {data}"
    hosts = len(topology["hosts"])
    return (
        f"- **through a topology** (`perf/run --topology {topology['directory']}`): nginx {topology['url']} ->"
        f" {hosts} host{'s' * (hosts != 1)} ({meta['workers']} workers in all, access log off) ->"
        f" {'PgBouncer -> ' if topology['pgbouncer'] else ''}a primary with {topology['replicas']} replica(s),"
        f" all on this machine; per host {pools}; data set {data} (see the notes)"
    )


def topology_table(results: dict[str, Any]) -> list[str]:
    """With ``--topology --direct``: each scenario through nginx and straight to each host, and nginx's cost."""
    direct = results.get("direct", {})
    if not direct:
        return []
    hosts = len(results["meta"]["topology"]["hosts"])
    lines = [
        "",
        "## Through nginx and each host directly",
        "",
        "Each scenario ran through nginx and then, right after, straight to each host named (nginx bypassed)."
        " nginx CPU µs/req is nginx's own CPU time (master + workers) over the run per request: what it adds"
        " per request on this machine's cores. hosts CPU µs/req is the app hosts' (masters + workers)."
        " Added p50 = p50 through nginx − p50 directly."
        + (
            " With one host both runs reach the same host, so req/s and latency differ by nginx alone."
            if hosts == 1
            else f" Through nginx the load is spread over {hosts} hosts, directly it reaches one."
        ),
        "",
        "| scenario | reached | req/s | p50 ms | p99 ms | hosts CPU µs/req | nginx CPU µs/req | req/s vs nginx"
        " | added p50 ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, run in results["scenarios"].items():
        title = run.get("title", name)
        if "error" in run:
            lines.append(f"| {title} | nginx | failed: {run['error']} |" + " |" * 6)
            continue
        lines.append(
            f"| {title} | nginx, {hosts} host{'s' * (hosts != 1)} | {_num(run['ok_rps'])}"
            f" | {_num(run['latency_ms']['p50'], 1)} | {_num(run['latency_ms']['p99'], 1)}"
            f" | {_num(run.get('cpu_us_per_request'), 1)} | {_num(run.get('nginx_cpu_us_per_request'), 1)} | | |"
        )
        for label, runs in direct.items():
            one = runs.get(name)
            if one is None:
                continue
            if "error" in one:
                lines.append(f"| | {label} directly | failed: {one['error']} |" + " |" * 6)
                continue
            answered = bool(one["requests"] and run["requests"])  # no latency from a run nothing answered
            ratio = one["ok_rps"] / run["ok_rps"] if run["ok_rps"] and answered else None
            added = f"{run['latency_ms']['p50'] - one['latency_ms']['p50']:+,.1f}" if answered else "–"
            lines.append(
                f"| | {label} directly | {_num(one['ok_rps'])} | {_num(one['latency_ms']['p50'], 1)}"
                f" | {_num(one['latency_ms']['p99'], 1)} | {_num(one.get('cpu_us_per_request'), 1)} | –"
                f" | {_ratio(ratio)} | {added} |"
            )
    return lines


def targets_table(results: dict[str, Any]) -> list[str]:
    """Issue 14's targets with the measured figures, as Markdown rows (evaluated afresh, so an older
    results.json is read against today's targets)."""
    lines = ["| scenario | target | measured | at issue 14's start | |", "|---|---|---|---|---|"]
    for row in evaluate_targets(results):
        lines.append(
            f"| {row['title']} | {row['target']} | {row['measured']} | {row['at_start']} | {_met(row['met'])} |"
        )
    return lines


def ceilings_table(results: dict[str, Any]) -> list[str]:
    """The hello and pgbench ceilings as Markdown rows."""
    lines = [
        "| ceiling | conns | req/s or tps | p50 ms | p90 ms | p99 ms | errors | PSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ceilings = results["ceilings"]
    for connections, run in ceilings.get("hello", {}).items():
        if "error" in run:
            lines.append(f"| bare aiohttp hello | {connections} | failed: {run['error']} | | | | | |")
            continue
        lines.append(
            f"| bare aiohttp hello | {int(connections):,} | {_num(run['ok_rps'])} | {_num(run['latency_ms']['p50'], 1)}"
            f" | {_num(run['latency_ms']['p90'], 1)} | {_num(run['latency_ms']['p99'], 1)}"
            f" | {run['non_2xx'] + run['socket_errors_total']:,} (timeouts {run['socket_errors']['timeout']})"
            f" | {_num(run.get('memory', {}).get('total_pss_mb'))} |"
        )
    for name, run in ceilings.get("pgbench", {}).items():
        if "error" in run:
            lines.append(f"| pgbench {name} | | failed: {run['error']} | | | | | |")
            continue
        lines.append(
            f"| pgbench {name} SQL | {run['clients']} | {_num(run['tps'])} | {_num(run['latency_ms']['p50'], 2)}"
            f" | {_num(run['latency_ms']['p90'], 2)} | {_num(run['latency_ms']['p99'], 2)} | {run['failed']} | |"
        )
    return lines


def checks(results: dict[str, Any]) -> list[str]:
    """Stock exact after each order run, the status counts, the probe's latency over time."""
    lines = []
    for name, run in results["scenarios"].items():
        if "stock_exact" in run:
            lines.append(
                f"- {name}: {run['orders_created']:,} orders created ({_num(run['orders_per_s'])}/s),"
                f" {run['units_sold']:,} units sold; stock exact: {'yes' if run['stock_exact'] else 'NO'}"
                + (f" (wrong: {run['stock_wrong_products']})" if not run["stock_exact"] else "")
            )
        if run.get("statuses"):
            counted = ", ".join(f"{code}: {count:,}" for code, count in sorted(run["statuses"].items()))
            lines.append(f"- {name}: statuses {counted}")
    runs = [(name, run) for name, run in results["scenarios"].items()]
    runs += [(f"hello_c{connections}", run) for connections, run in results["ceilings"].get("hello", {}).items()]
    for name, run in runs:
        if run.get("listen") and run.get("connections", 0) >= 1000:
            counted = ", ".join(f"{counter} {count:,}" for counter, count in run["listen"].items())
            lines.append(f"- listen queue, {name} (the machine's TcpExt counters over the run): {counted}")
    for name, samples in results.get("timeline", {}).items():
        answered = [s["ms"] for s in samples if s["ms"] is not None]
        failed = len(samples) - len(answered)
        if answered:
            lines.append(
                f"- latency over time, {name}: {len(samples)} probe requests, median {statistics.median(answered):,.0f}"
                f" ms, max {max(answered):,.0f} ms, {failed} failed, the last failure {recovery_s(samples):.1f} s"
                " into the run (see chart.png)"
            )
    return lines


def write_markdown(results: dict[str, Any], path: Path) -> None:
    """report.md: what was run, the scenarios with ratios, the ceilings, the targets, the checks."""
    meta = results["meta"]
    machine = meta["machine"]
    lines = [
        f"# Load run {meta['started']}",
        "",
        f"- commit `{meta['commit']}`{' (with uncommitted changes)' if meta.get('dirty') else ''}",
        f"- machine: {machine['cpus']} CPUs ({machine['cpu_model']}), {machine['memory_gb']} GB, {machine['kernel']},"
        f" load average before {machine['load_before']}, after {machine['load_after']}",
        service_line(meta),
        f"- load: {meta['wrk']}, {meta['options']['threads']} threads, {meta['options']['duration']} s per scenario"
        f" after {meta['options']['warmup']} s of warm-up, wrk timeout {meta['options']['timeout']} s;"
        f" access log {meta['options'].get('access_log', 'on')};"
        f" run took {meta['elapsed_s']:.0f} s{' (quick)' if meta['options']['quick'] else ''}",
        "",
        "## Scenarios",
        "",
        "req/s counts 2xx answers only; p50/p90/p99 are wrk's; PSS/RSS is the peak of master + workers at"
        ' one instant; DB conns the peak of pg_stat_activity; "vs hello" divides by the bare aiohttp app at'
        ' the same connections, "vs pgbench" by pgbench running the same SQL at the pools\' connections.',
        "",
        *scenario_table(results),
        *access_log_table(results),
        *topology_table(results),
        "",
        "## Ceilings",
        "",
        *ceilings_table(results),
        "",
        "## Targets (issue 14)",
        "",
        *targets_table(results),
        *breakdown.report_lines(results),
        "",
        "## Checks",
        "",
        *checks(results),
    ]
    lines += ["", "## Memory at peak, per process", ""]
    for name, run in results["scenarios"].items():
        processes = run.get("memory", {}).get("processes", [])
        if processes:
            each = ", ".join(f"{p['role']} {p['pss_mb']:.0f}/{p['rss_mb']:.0f}" for p in processes)
            lines.append(f"- {name} (PSS/RSS MB): {each}")
    if results.get("notes"):
        lines += ["", "## Notes", "", *[f"- {note}" for note in results["notes"]]]
    path.write_text("\n".join(lines) + "\n")


def write_chart(results: dict[str, Any], path: Path) -> None:
    """chart.png: requests/s and p99 per scenario (hello ceilings as lines), latency over time at 5,000."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = {name: run for name, run in results["scenarios"].items() if "error" not in run}
    names = list(runs)
    figure, (rate_axis, p99_axis, time_axis) = plt.subplots(3, 1, figsize=(12, 13))
    figure.suptitle(f"Jaan Connect API load run {results['meta']['started']} ({results['meta']['commit'][:10]})")

    positions = range(len(names))
    rate_axis.bar(positions, [runs[n]["ok_rps"] for n in names], color="#4477aa")
    for connections, hello in results["ceilings"].get("hello", {}).items():
        if "ok_rps" in hello:
            rate_axis.axhline(hello["ok_rps"], linestyle="--", color="#cc6677", linewidth=1)
            rate_axis.annotate(f"hello c={connections}", (len(names) - 0.5, hello["ok_rps"]), fontsize=8, ha="right")
    rate_axis.set_xticks(list(positions), names, rotation=30, ha="right")
    rate_axis.set_ylabel("requests/s (2xx)")
    rate_axis.set_title("Throughput per scenario")

    p99_axis.bar(positions, [max(runs[n]["latency_ms"]["p99"], 0.01) for n in names], color="#ddaa33")
    p99_axis.set_yscale("log")
    p99_axis.set_xticks(list(positions), names, rotation=30, ha="right")
    p99_axis.set_ylabel("p99 latency, ms (log)")
    p99_axis.set_title("p99 latency per scenario")

    drawn = False
    for (label, samples), color in zip(
        results.get("timeline", {}).items(), ("#4477aa", "#cc6677", "#228833"), strict=False
    ):
        answered = [(s["t"], s["ms"]) for s in samples if s["ms"] is not None]
        failed = [s["t"] for s in samples if s["ms"] is None]
        if answered:
            time_axis.scatter(*zip(*answered, strict=True), s=6, color=color, label=f"{label}: answered")
            drawn = True
        if failed:
            # Drawn at the probe's 5-s timeout: where they gave up.
            time_axis.scatter(failed, [5000.0] * len(failed), s=12, marker="x", color=color, label=f"{label}: failed")
            drawn = True
    time_axis.set_yscale("log")
    time_axis.set_xlabel("seconds into the run")
    time_axis.set_ylabel("latency, ms (log)")
    time_axis.set_title("Latency over time at 5,000 connections (a light probe client alongside wrk)")
    if drawn:
        time_axis.legend(fontsize=8)
    else:
        time_axis.text(0.5, 0.5, "no 5,000-connection run", ha="center", transform=time_axis.transAxes)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)
