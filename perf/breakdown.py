"""Where the mix goes (issue 14): per route, the share of requests, the response cache's hit rate,
the invalidations orders cause, the pool's waits and the time PostgreSQL spends per statement.

Read from the service itself around the measured run of the mixed scenario: its Prometheus
``/metrics`` (counters and histograms summed over every worker) before and after, and
pg_stat_statements (reset before, read after; the embedded PostgreSQL preloads it). Nothing is
added to the service's request path for this: the figures are the ones production exposes.
"""

from __future__ import annotations

import re
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

import psycopg2
from prometheus_client.parser import text_string_to_metric_families

from jaan.db.statements import StatementsUnavailable, top_statements
from perf.profile import Profile

# A labelled sample: (sample name, sorted (label, value) pairs).
Key = tuple[str, tuple[tuple[str, str], ...]]
Snapshot = dict[Key, float]

STATEMENTS_SHOWN = 12
# Acquiring a pooled connection faster than this is not waiting (the histogram's bucket bound).
WAIT_BOUND_S = "0.001"


def snapshot(base_url: str, timeout: float = 15.0) -> Snapshot:
    """Every counter and histogram sample of ``GET /metrics`` (gauges are left out: no deltas)."""
    with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout) as answer:
        text = answer.read().decode()
    found: Snapshot = {}
    for family in text_string_to_metric_families(text):
        if family.type not in ("counter", "histogram"):
            continue
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = float(sample.value)
    return found


class Watch:
    """What is read around one measured run for its breakdown: made just before the run, finished after."""

    def __init__(
        self, base_urls: list[str], dsn: str, worker_pid: int | None, seconds: float, profile_path: Path
    ) -> None:
        self.base_urls, self.dsn = base_urls, dsn  # several: the hosts of a rehearsal
        self.reset_failed = reset_statements(dsn)
        self.before = snapshot_or_why(*base_urls)
        # py-spy on one worker over the run (None: not asked for).
        self.profile = Profile(worker_pid, seconds, profile_path) if worker_pid is not None else None

    def abort(self) -> None:
        """The run failed: stop sampling."""
        if self.profile is not None:
            self.profile.stop()

    def finish(self) -> dict[str, Any]:
        """The breakdown (or why there is none), once nothing is in flight."""
        after = snapshot_or_why(*self.base_urls)
        found: dict[str, Any]
        if isinstance(self.before, str) or isinstance(after, str):
            found = {"error": self.before if isinstance(self.before, str) else after}
        else:
            figures = {"error": self.reset_failed} if self.reset_failed else statements(self.dsn)
            found = compute(self.before, after, figures)
        if self.profile is not None:
            found["profile"] = self.profile.finish()
        return found


def snapshot_or_why(*base_urls: str) -> Snapshot | str:
    """:func:`snapshot`, summed over several hosts (a rehearsal's: nginx does not pass /metrics on),
    or why it could not be read (a busy service may not answer in time)."""
    summed: Snapshot = defaultdict(float)
    for base_url in base_urls:
        try:
            found = snapshot(base_url)
        except (OSError, ValueError) as exc:
            return f"reading {base_url}/metrics failed: {exc}"
        for key, value in found.items():
            summed[key] += value
    return dict(summed)


def reset_statements(dsn: str) -> str | None:
    """Empty pg_stat_statements, so what it holds afterwards is the scenario's; why not, if it failed."""
    try:
        conn = psycopg2.connect(dsn, connect_timeout=5)
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT pg_stat_statements_reset()")
        finally:
            conn.close()
    except psycopg2.Error as exc:
        return f"pg_stat_statements could not be reset: {str(exc).strip()}"
    return None


def statements(dsn: str, limit: int = STATEMENTS_SHOWN) -> dict[str, Any]:
    """The statements with the most execution time since the reset, each with its share of the total."""
    try:
        everything = top_statements(dsn, limit=1000)
    except (StatementsUnavailable, psycopg2.Error) as exc:
        return {"error": str(exc).strip()}
    # The suite's own probes (pg_stat_activity, the reset itself) are not the service's.
    mine = re.compile(r"pg_stat_(activity|statements)", re.IGNORECASE)
    rows = [row for row in everything if not mine.search(row["query"])]
    total_ms = sum(row["total_ms"] for row in rows)
    calls = sum(int(row["calls"]) for row in rows)
    shown = [
        {
            "calls": int(row["calls"]),
            "total_ms": row["total_ms"],
            "mean_ms": row["mean_ms"],
            "share": round(row["total_ms"] / total_ms, 4) if total_ms else 0.0,
            "query": re.sub(r"\s+", " ", row["query"]).strip(),
        }
        for row in rows[:limit]
    ]
    return {"total_ms": round(total_ms, 1), "calls": calls, "top": shown}


def _delta(before: Snapshot, after: Snapshot, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    """Each label set's increase of the sample `name` over the run."""
    return {
        labels: value - before.get((sample, labels), 0.0)
        for (sample, labels), value in after.items()
        if sample == name and value - before.get((sample, labels), 0.0) > 0
    }


def _total(deltas: dict[tuple[tuple[str, str], ...], float], **wanted: str) -> float:
    return sum(value for labels, value in deltas.items() if all(dict(labels).get(k) == v for k, v in wanted.items()))


def _rate(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def compute(before: Snapshot, after: Snapshot, statement_figures: dict[str, Any] | None) -> dict[str, Any]:
    """The breakdown of one run from two /metrics snapshots (and pg_stat_statements' figures)."""
    requests = _delta(before, after, "jaan_http_requests_total")
    seconds = _delta(before, after, "jaan_http_request_duration_seconds_sum")
    answered = sum(requests.values())
    per_route: dict[str, dict[str, Any]] = defaultdict(lambda: {"requests": 0, "statuses": {}})
    for labels, count in requests.items():
        label = dict(labels)
        if label.get("route") == "/metrics":
            continue  # the suite's own scrapes
        route = per_route[f"{label['method']} {label['route']}"]
        route["requests"] += int(count)
        route["statuses"][label["status"]] = route["statuses"].get(label["status"], 0) + int(count)
    scrapes = _total(requests, route="/metrics")
    routes = []
    for name, route in sorted(per_route.items(), key=lambda item: -item[1]["requests"]):
        method, _, template = name.partition(" ")
        spent = _total(seconds, method=method, route=template)
        routes.append(
            {
                "route": name,
                **route,
                "share": _rate(route["requests"], answered - scrapes),
                "mean_ms": round(spent / route["requests"] * 1000, 2) if route["requests"] else None,
                "time_share": None,  # filled below, once the total is known
                "_seconds": spent,
            }
        )
    busy = sum(route["_seconds"] for route in routes)
    for route in routes:
        route["time_share"] = _rate(route.pop("_seconds"), busy)

    lookups = _delta(before, after, "jaan_response_cache_lookups_total")
    entries: dict[str, dict[str, Any]] = defaultdict(lambda: {"hit": 0, "miss": 0, "bypass": 0})
    for labels, count in lookups.items():
        label = dict(labels)
        entries[label["entry"]][label["result"]] += int(count)
    for figures in entries.values():
        figures["hit_rate"] = _rate(figures["hit"], figures["hit"] + figures["miss"] + figures["bypass"])
    counts = {result: int(_total(lookups, result=result)) for result in ("hit", "miss", "bypass")}
    overall: dict[str, Any] = {**counts, "hit_rate": _rate(counts["hit"], sum(counts.values()))}

    orders = sum(_delta(before, after, "jaan_orders_placed_total").values())
    drops = {
        dict(labels)["tag"]: int(count)
        for labels, count in _delta(before, after, "jaan_response_cache_drops_total").items()
    }

    patches = {
        dict(labels)["change"]: int(count)
        for labels, count in _delta(before, after, "jaan_response_cache_patches_total").items()
    }

    acquire_count = sum(_delta(before, after, "jaan_db_acquire_seconds_count").values())
    acquire_sum = sum(_delta(before, after, "jaan_db_acquire_seconds_sum").values())
    quick = _total(_delta(before, after, "jaan_db_acquire_seconds_bucket"), le=WAIT_BOUND_S)
    query_count = sum(_delta(before, after, "jaan_db_query_seconds_count").values())
    query_sum = sum(_delta(before, after, "jaan_db_query_seconds_sum").values())
    session = {
        result: int(_total(_delta(before, after, "jaan_cache_requests_total"), cache="session", result=result))
        for result in ("hit", "miss", "bypass")
    }
    return {
        "requests": int(answered - scrapes),
        "routes": routes,
        "response_cache": {"overall": overall, "by_entry": dict(sorted(entries.items()))},
        "session_cache": {**session, "hit_rate": _rate(session["hit"], sum(session.values()))},
        "invalidations": {
            "orders_placed": int(orders),
            "entries_dropped": dict(sorted(drops.items())),
            "entries_dropped_per_order": round(sum(drops.values()) / orders, 2) if orders else None,
            "patched": dict(sorted(patches.items())),
            "patched_per_order": round(sum(patches.values()) / orders, 2) if orders else None,
        },
        "pool": {
            "acquires": int(acquire_count),
            "waited": int(acquire_count - quick),
            "waited_share": _rate(acquire_count - quick, acquire_count),
            "mean_wait_ms": round(acquire_sum / acquire_count * 1000, 3) if acquire_count else None,
            "wait_bound_ms": float(WAIT_BOUND_S) * 1000,
        },
        "round_trips": {
            "count": int(query_count),
            "per_request": _rate(query_count, answered - scrapes),
            "mean_ms": round(query_sum / query_count * 1000, 3) if query_count else None,
        },
        "statements": statement_figures or {"error": "not read"},
    }


def _fmt(value: float | None) -> str:
    return "–" if value is None else f"{value:g}"


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{value:.0%}"


def report_lines(results: dict[str, Any]) -> list[str]:
    """The breakdown as Markdown (report.md and perf/README.md), for each scenario that has one."""
    lines: list[str] = []
    for name, run in results.get("scenarios", {}).items():
        found = run.get("breakdown")
        if not found:
            continue
        lines += ["", f"## Where the {name} scenario goes", ""]
        if "error" in found:
            lines.append(f"The breakdown failed: {found['error']}")
            continue
        lines.append(tables(found))
    return lines


def tables(found: dict[str, Any]) -> str:
    """The breakdown's tables and one-line figures (without a heading)."""
    entry_of_route = {
        "GET /api/products": "products",
        "GET /api/products/slug/{slug}": "product",
        "GET /api/categories": "categories",
        "GET /api/admin/stats": "admin stats",
        "GET /api/orders": "orders",
    }
    entries = found["response_cache"]["by_entry"]
    lines = [
        f"{found['requests']:,} requests answered during the measured run (the service's /metrics, before and after).",
        "",
        "| route | requests | share | statuses | mean ms | share of time | cache hit rate |",
        "|---|---:|---:|---|---:|---:|---:|",
    ]
    for route in found["routes"]:
        entry = entries.get(entry_of_route.get(route["route"], ""), {})
        statuses = ", ".join(f"{code}: {count:,}" for code, count in sorted(route["statuses"].items()))
        lines.append(
            f"| {route['route']} | {route['requests']:,} | {_pct(route['share'])} | {statuses}"
            f" | {route['mean_ms'] if route['mean_ms'] is not None else '–'} | {_pct(route['time_share'])}"
            f" | {_pct(entry.get('hit_rate'))} |"
        )
    overall, session = found["response_cache"]["overall"], found["session_cache"]
    invalidations, pool, trips = found["invalidations"], found["pool"], found["round_trips"]
    dropped = ", ".join(f"{tag} {count:,}" for tag, count in invalidations["entries_dropped"].items()) or "none"
    patched = ", ".join(f"{change} {count:,}" for change, count in invalidations.get("patched", {}).items()) or "none"
    lines += [
        "",
        f"- response cache: {_pct(overall['hit_rate'])} hits ({overall['hit']:,} hits, {overall['miss']:,} misses,"
        f" {overall['bypass']:,} bypassed); by entry: "
        + ", ".join(f"{entry} {_pct(figures['hit_rate'])}" for entry, figures in entries.items()),
        f"- session cache: {_pct(session['hit_rate'])} hits",
        f"- invalidations: {invalidations['orders_placed']:,} orders placed; cached answers dropped (all workers):"
        f" {dropped}; {invalidations['entries_dropped_per_order'] or '–'} per order",
        *(
            [
                f"- patched in place instead (all workers): {patched};"
                f" {invalidations['patched_per_order'] or '–'} per order"
            ]
            if "patched" in invalidations  # runs before the counter existed have none
            else []
        ),
        f"- pool: {pool['acquires']:,} connections acquired, {_pct(pool['waited_share'])} waited over"
        f" {pool['wait_bound_ms']:g} ms, mean wait {_fmt(pool['mean_wait_ms'])} ms",
        f"- database round trips: {trips['count']:,} ({trips['per_request'] or 0:.2f} per request),"
        f" mean {_fmt(trips['mean_ms'])} ms each as the worker sees it",
    ]
    lines += profile_lines(found.get("profile"))
    figures = found["statements"]
    if "error" in figures:
        lines.append(f"- pg_stat_statements: {figures['error']}")
        return "\n".join(lines)
    lines += [
        "",
        f"PostgreSQL's execution time by statement (pg_stat_statements, reset before the run):"
        f" {figures['total_ms']:,.0f} ms over {figures['calls']:,} calls in all.",
        "",
        "| calls | total ms | mean ms | share | statement |",
        "|---:|---:|---:|---:|---|",
    ]
    for row in figures["top"]:
        text = row["query"] if len(row["query"]) <= 90 else row["query"][:89] + "…"
        text = text.replace("|", "\\|")
        lines.append(
            f"| {row['calls']:,} | {row['total_ms']:,.1f} | {row['mean_ms']:.3f} | {_pct(row['share'])} | `{text}` |"
        )
    return "\n".join(lines)


def profile_lines(found: dict[str, Any] | None, shown: int = 10) -> list[str]:
    """The worker's py-spy profile: where its samples were (innermost frame) and what they went through."""
    if not found:
        return []
    if "error" in found:
        return [f"- py-spy profile of a worker: {found['error']}"]
    lines = [
        "",
        f"py-spy profile of one worker (pid {found['pid']}, {found['samples']:,} samples at 100 Hz, raw stacks in"
        f" {found['file']}):",
        "",
        "| self | function (innermost frame) | | inclusive | the service's function (anywhere on the stack) |",
        "|---:|---|---|---:|---|",
    ]
    for inner, anywhere in zip(found["self"][:shown], found["inclusive"][:shown], strict=False):
        lines.append(
            f"| {_pct(inner['share'])} | `{inner['function']}` | |"
            f" {_pct(anywhere['share'])} | `{anywhere['function']}` |"
        )
    return lines
