"""What the suite measures: the scenarios, the ceilings they are read against, and issue 14's targets."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Scenario:
    """One wrk run against the service.

    ``inputs`` names what the suite prepares for the Lua script: ``search`` (a file of search
    paths), ``slugs`` (a file of product-page paths), ``orders`` (customer tokens and product ids)
    or ``mixed`` (all of these and the admin token).
    """

    name: str
    title: str
    path: str = "/api/health"
    script: str = "report.lua"
    inputs: str | None = None
    admin: bool = False
    connections: int | None = None  # None: the run's --connections
    count_status: bool = False  # count every status code (costs wrk time per response)
    creates_orders: bool = False  # check "stock exact" around the run
    timeline: bool = False  # sample latency over time alongside
    pgbench: str | None = None  # the pgbench script (ceiling) of its SQL, if it is DB-bound
    breakdown: bool = False  # read where its requests go (perf/breakdown.py) around the measured run

    def concurrency(self, default: int) -> int:
        """The connections wrk opens for this scenario."""
        return self.connections or default


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("health", "GET /api/health"),
    Scenario("categories", "GET /api/categories", path="/api/categories"),
    Scenario("products", "GET /api/products page 1", path="/api/products", pgbench="list"),
    Scenario("search", "search, many terms, page 2", script="paths.lua", inputs="search"),
    Scenario("slug", "GET /api/products/slug/:slug, many slugs", script="paths.lua", inputs="slugs", pgbench="slug"),
    Scenario("admin_stats", "GET /api/admin/stats (admin)", path="/api/admin/stats", admin=True),
    Scenario("admin_orders", "GET /api/orders (admin list)", path="/api/orders", admin=True),
    Scenario(
        "orders",
        "POST /api/orders (customers)",
        script="orders.lua",
        inputs="orders",
        count_status=True,
        creates_orders=True,
    ),
    Scenario(
        "mixed",
        "mixed storefront (70/20/5/5)",
        script="mixed.lua",
        inputs="mixed",
        count_status=True,
        creates_orders=True,
        breakdown=True,
    ),
    Scenario("products_c1000", "GET /api/products at 1,000 conns", path="/api/products", connections=1000),
    Scenario(
        "products_c5000", "GET /api/products at 5,000 conns", path="/api/products", connections=5000, timeline=True
    ),
)

BY_NAME = {scenario.name: scenario for scenario in SCENARIOS}

# The path the bare aiohttp app answers, the same one the health scenario asks for.
HELLO_PATH = "/api/health"
# The connection count of the second hello ceiling, always measured (issue 7: "at 5,000").
MANY_CONNECTIONS = 5000
# A run at a thousand connections or more lasts at least this long: opening them all takes seconds on a
# busy machine, and a shorter run would measure only the connecting.
MANY_CONNECTIONS_MIN_SECONDS = 5.0


def measured_seconds(connections: int, duration: float) -> float:
    """How long a measured run at this many connections lasts, given the run's --duration."""
    return max(duration, MANY_CONNECTIONS_MIN_SECONDS) if connections >= 1000 else duration


def select(names: str | None) -> list[Scenario]:
    """The scenarios named in a comma-separated list (all when None or 'all'), in table order."""
    if not names or names == "all":
        return list(SCENARIOS)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return [scenario for scenario in SCENARIOS if scenario.name in wanted]


# -- targets (issue 14's; ratios against the bare aiohttp ceiling at the same connections, same run) ----------

Results = dict[str, Any]
Check = Callable[[Results], "tuple[bool | None, str]"]

# The read routes issue 14 wants at >= 60% of the ceiling each.
READ_ROUTES = ("categories", "products", "search", "slug", "admin_stats", "admin_orders")
# A probe's failures count as "not yet recovered" up to this many seconds later than the ceiling's.
RECOVERY_SLACK_S = 1.0


@dataclass(frozen=True)
class Target:
    """One row of issue 14's targets table; ``check`` returns (met, what was measured), met None if not run."""

    scenario: str
    wanted: str
    at_start: str  # what issue 14 measured when it was filed
    check: Check


def _scenario(results: Results, name: str) -> dict[str, Any] | None:
    found = results.get("scenarios", {}).get(name)
    return found if isinstance(found, dict) and "error" not in found else None


def _ceiling(results: Results, run: dict[str, Any]) -> float | None:
    hello = results.get("ceilings", {}).get("hello", {}).get(str(run["connections"]), {})
    rate = hello.get("ok_rps")
    return float(rate) if rate else None


def _share_of_ceiling(name: str, floor: float, p99_ms: float | None = None) -> Check:
    """At least `floor` of the hello ceiling at the same connections (and p99 at most `p99_ms`)."""

    def check(results: Results) -> tuple[bool | None, str]:
        run = _scenario(results, name)
        ceiling = _ceiling(results, run) if run else None
        if run is None or ceiling is None:
            return None, "not run"
        ratio = run["ok_rps"] / ceiling
        met = ratio >= floor
        said = f"{ratio:.0%} of {ceiling:,.0f} ({run['ok_rps']:,.0f} req/s)"
        if p99_ms is not None:
            met = met and run["latency_ms"]["p99"] <= p99_ms
            said += f", p99 {run['latency_ms']['p99']:,.1f} ms"
        return met, said

    return check


def _stock(run: dict[str, Any]) -> tuple[bool, str]:
    stock = run.get("stock_exact")
    return stock is True, f"stock {'exact' if stock else 'NOT exact' if stock is False else 'unchecked'}"


def _mixed(results: Results) -> tuple[bool | None, str]:
    met, said = _share_of_ceiling("mixed", 0.25, p99_ms=150)(results)
    run = _scenario(results, "mixed")
    if run is None or met is None:
        return met, said
    stock_ok, stock = _stock(run)
    errors = run["non_2xx"] + run["socket_errors_total"]
    return met and errors == 0 and stock_ok, f"{said}, {errors:,} non-2xx or socket errors, {stock}"


def _orders(results: Results) -> tuple[bool | None, str]:
    run = _scenario(results, "orders")
    if run is None:
        return None, "not run"
    stock_ok, stock = _stock(run)
    server_errors = sum(count for status, count in run.get("statuses", {}).items() if int(status) >= 500)
    met = run["orders_per_s"] >= 600 and server_errors == 0 and stock_ok and run["socket_errors_total"] == 0
    return met, f"{run['orders_per_s']:,.0f} orders/s, {server_errors} 5xx, {stock}"


def recovery_s(samples: list[dict[str, Any]]) -> float:
    """Seconds into the run of the probe's last failed request (0 when none failed): when fresh
    connections were answered again for good."""
    failed = [float(sample["t"]) for sample in samples if sample.get("ms") is None]
    return max(failed, default=0.0)


def _many_connections(results: Results) -> tuple[bool | None, str]:
    run = _scenario(results, "products_c5000")
    hello = results.get("ceilings", {}).get("hello", {}).get(str(MANY_CONNECTIONS))
    if run is None or not hello or "socket_errors" not in hello:
        return None, "not run"
    timeouts, ceiling = run["socket_errors"]["timeout"], hello["socket_errors"]["timeout"]
    timeline = results.get("timeline", {})
    ours, theirs = recovery_s(timeline.get("products_c5000", [])), recovery_s(timeline.get("hello_c5000", []))
    met = run["non_2xx"] == 0 and timeouts <= ceiling and ours <= theirs + RECOVERY_SLACK_S
    return met, (
        f"{run['non_2xx']} non-2xx, {timeouts:,} timeouts (hello: {ceiling:,}),"
        f" probe recovered after {ours:.1f} s (hello: {theirs:.1f} s)"
    )


def _memory(results: Results) -> tuple[bool | None, str]:
    peaks = [run["memory"]["total_pss_mb"] for run in results.get("scenarios", {}).values() if run.get("memory")]
    if not peaks:
        return None, "not run"
    peak = max(peaks)
    return peak <= 200, f"{peak:,.0f} MB PSS at peak (master + workers)"


TARGETS: tuple[Target, ...] = (
    Target(
        "mixed",
        "≥ 25% of the ceiling, p99 ≤ 150 ms, 0 non-2xx, stock exact",
        "7–8%, p99 ~500 ms",
        _mixed,
    ),
    Target("orders", "≥ 600 orders/s, 0 5xx, stock exact", "251–492", _orders),
    Target(
        "health",
        "≥ 80% of the ceiling, p99 ≤ 50 ms",
        "45% with the access log, 63% without",
        _share_of_ceiling("health", 0.8, p99_ms=50),
    ),
    *(
        Target(name, "≥ 60% of the ceiling", "30–33% with the access log, 43–58% without", _share_of_ceiling(name, 0.6))
        for name in READ_ROUTES
    ),
    Target(
        "products_c5000",
        "0 non-2xx, timeouts ≤ the ceiling's at 5,000, the probe's fresh connections recover as fast as the"
        f" ceiling's (last failure ≤ {RECOVERY_SLACK_S:g} s after the ceiling's)",
        "719 timeouts vs 253 in issue 7's run",
        _many_connections,
    ),
    Target("memory", "master + all workers under load, as PSS: ≤ 200 MB in all", "122–171 MB", _memory),
)
