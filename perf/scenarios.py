"""What the suite measures: the scenarios, the ceilings they are read against, and issue 7's targets."""

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


def select(names: str | None) -> list[Scenario]:
    """The scenarios named in a comma-separated list (all when None or 'all'), in table order."""
    if not names or names == "all":
        return list(SCENARIOS)
    wanted = [name.strip() for name in names.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in BY_NAME]
    if unknown:
        raise ValueError(f"unknown scenario(s): {', '.join(unknown)}; known: {', '.join(BY_NAME)}")
    return [scenario for scenario in SCENARIOS if scenario.name in wanted]


# -- targets ---------------------------------------------------------------------------------------

Results = dict[str, Any]
Check = Callable[[Results], "tuple[bool | None, str]"]


@dataclass(frozen=True)
class Target:
    """One row of issue 7's targets table; ``check`` returns (met, what was measured), met None if not run."""

    scenario: str
    wanted: str
    original: str
    check: Check


def _scenario(results: Results, name: str) -> dict[str, Any] | None:
    found = results.get("scenarios", {}).get(name)
    return found if isinstance(found, dict) else None


def _rps_at_least(name: str, floor: float, p99_ms: float | None = None, errors_zero: bool = False) -> Check:
    def check(results: Results) -> tuple[bool | None, str]:
        run = _scenario(results, name)
        if run is None:
            return None, "not run"
        met = run["ok_rps"] >= floor
        said = f"{run['ok_rps']:,.0f} req/s"
        if p99_ms is not None:
            met = met and run["latency_ms"]["p99"] <= p99_ms
            said += f", p99 {run['latency_ms']['p99']:,.1f} ms"
        if errors_zero:
            errors = run["non_2xx"] + run["socket_errors_total"]
            met = met and errors == 0
            said += f", {errors} errors"
        return met, said

    return check


def _health(results: Results) -> tuple[bool | None, str]:
    run = _scenario(results, "health")
    hello = results.get("ceilings", {}).get("hello", {}).get(str(run["connections"])) if run else None
    if run is None or hello is None:
        return None, "not run"
    ratio = run["ok_rps"] / hello["ok_rps"] if hello["ok_rps"] else 0.0
    met = ratio >= 0.8 and run["latency_ms"]["p99"] <= 50
    return met, f"{ratio:.0%} of {hello['ok_rps']:,.0f}, p99 {run['latency_ms']['p99']:,.1f} ms"


def _orders(results: Results) -> tuple[bool | None, str]:
    run = _scenario(results, "orders")
    if run is None:
        return None, "not run"
    stock = run.get("stock_exact")
    server_errors = sum(count for status, count in run["statuses"].items() if int(status) >= 500)
    met = run["orders_per_s"] >= 500 and server_errors == 0 and stock is True and run["socket_errors_total"] == 0
    return met, (
        f"{run['orders_per_s']:,.0f} orders/s, {server_errors} 5xx, "
        f"stock {'exact' if stock else 'NOT exact' if stock is False else 'unchecked'}"
    )


def _many_connections(results: Results) -> tuple[bool | None, str]:
    run = _scenario(results, "products_c5000")
    hello = results.get("ceilings", {}).get("hello", {}).get(str(MANY_CONNECTIONS))
    if run is None or hello is None:
        return None, "not run"
    timeouts, ceiling = run["socket_errors"]["timeout"], hello["socket_errors"]["timeout"]
    p99 = run["latency_ms"]["p99"]
    met = run["non_2xx"] == 0 and timeouts <= ceiling and p99 <= 1500
    return met, f"{run['non_2xx']} non-2xx, {timeouts} timeouts (hello: {ceiling}), p99 {p99:,.0f} ms"


def _memory(results: Results) -> tuple[bool | None, str]:
    peaks = [run["memory"]["total_pss_mb"] for run in results.get("scenarios", {}).values() if run.get("memory")]
    if not peaks:
        return None, "not run"
    peak = max(peaks)
    return peak <= 200, f"{peak:,.0f} MB PSS at peak (master + workers)"


TARGETS: tuple[Target, ...] = (
    Target("health", "≥ 80% of the bare aiohttp ceiling, p99 ≤ 50 ms", "4,654 req/s", _health),
    Target("categories", "≥ 10,000 req/s", "1,876", _rps_at_least("categories", 10_000)),
    Target("products", "≥ 6,000 req/s, p99 ≤ 100 ms", "135", _rps_at_least("products", 6_000, p99_ms=100)),
    Target("search", "≥ 1,500 req/s, 0 errors", "59, all 500", _rps_at_least("search", 1_500, errors_zero=True)),
    Target("slug", "≥ 8,000 req/s", "1,453", _rps_at_least("slug", 8_000)),
    Target("admin_stats", "≥ 2,000 req/s", "183", _rps_at_least("admin_stats", 2_000)),
    Target("admin_orders", "≥ 3,000 req/s", "549", _rps_at_least("admin_orders", 3_000)),
    Target("orders", "≥ 500 orders/s, 0 5xx, stock exact afterwards", "27–113, 96% 500", _orders),
    Target(
        "products_c5000",
        "0 non-2xx, timeouts ≤ the bare ceiling's at 5,000, p99 ≤ 1.5 s",
        "1,919 errors, 4,192 timeouts",
        _many_connections,
    ),
    Target("memory", "master + all workers under load, as PSS: ≤ 200 MB in all", "439 MB RSS", _memory),
)
