"""Dashboard routes: headline stats (#29), the dashboard page (#30) and analytics (#31)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from aiohttp import web

from jaan.routes import Access, RouteTable
from jaan.shop.dashboard import figures
from jaan.shop.dashboard.figures import Period
from jaan.shop.dashboard.headline import HEADLINE_FIGURES, ORDER_FIGURES, HeadlineFigures, Snapshot
from jaan.shop.freshness import table_tag
from jaan.state import DATABASE
from jaan.web.answers import AnyObject, Envelope
from jaan.web.envelope import money, ok
from jaan.web.errors import InvalidInput
from jaan.web.fields import Date
from jaan.web.input import Query
from jaan.web.response_cache import RESPONSE_CACHE, cached_response

routes = RouteTable("dashboard")

DASHBOARD_WINDOW_DAYS = 30  # the dashboard's breakdowns cover the last 30 days (analytics: any range)
MAX_RANGE_DAYS = 731  # analytics answers for at most two years at once


class AnalyticsQuery(Query):
    """Store-local dates; the range may cover at most MAX_RANGE_DAYS days."""

    start: Date | None = None
    end: Date | None = None


class Figures(Envelope[AnyObject]):
    """The figures (camelCase keys, as the dashboard pages read them)."""


# One statement, one pass over each table: the original ran ten queries one after the other.
_STATS_SQL = """
WITH zone AS (
    SELECT coalesce((SELECT value FROM settings WHERE key = 'store_timezone'), 'UTC') AS tz
), clock AS (
    SELECT tz, (now() AT TIME ZONE tz)::date AS today FROM zone
)
SELECT (SELECT count(*) FROM users)::int AS "totalUsers",
       -- Which transactions this statement saw: the order changes heard are counted only if not.
       pg_current_snapshot()::text AS snapshot,
       -- When the store's day ends: "overdue" changes then, with no write to announce it.
       (SELECT extract(epoch FROM (today + 1)::timestamp AT TIME ZONE tz)::float8 FROM clock) AS day_ends_at,
       (SELECT count(*) FROM products WHERE archived_at IS NULL)::int AS "totalProducts",
       o.*, i.*
FROM (
    SELECT count(*)::int AS "totalOrders",
           count(*) FILTER (WHERE status = 'pending')::int AS "pendingOrders",
           coalesce(sum(total) FILTER (WHERE status <> 'cancelled'), 0) AS revenue
    FROM orders
) o, (
    SELECT count(*)::int AS "totalInvoices",
           coalesce(sum(total) FILTER (WHERE status <> 'cancelled'), 0) AS "invoiceRevenue",
           coalesce(sum(balance_due) FILTER (WHERE status NOT IN ('paid', 'cancelled')), 0) AS receivables,
           coalesce(sum(amount_paid) FILTER (WHERE status <> 'cancelled'), 0) AS "paidAmount",
           count(*) FILTER (WHERE status = 'overdue' OR (status NOT IN ('paid', 'cancelled') AND balance_due > 0
               AND due_date < (SELECT today FROM clock)))::int AS "overdueInvoices"
    FROM invoices
) i
"""
_RECENT_ORDERS_SQL = (
    "SELECT id, order_number, customer_name, total, status, created_at FROM orders"
    " ORDER BY created_at DESC, id DESC LIMIT 5"
)
_RECENT_ACTIVITY_SQL = (
    "SELECT id, type, action, description, entity_type, entity_id, user_name, details, severity, created_at"
    " FROM activity_logs ORDER BY created_at DESC, id DESC LIMIT 6"
)


@routes.route(
    "GET", "/api/admin/stats", access=Access.ADMIN, summary="Headline figures of the store", responses={200: Figures}
)
async def stats(request: web.Request) -> web.Response:
    async def build() -> tuple[HeadlineFigures, list[str], float]:
        headline = request.app[ORDER_FIGURES].listen()  # before the read: it hears every change after
        figures_now = await request.app[DATABASE].fetch_one(_STATS_SQL)
        assert figures_now is not None
        day_ends_at = figures_now.pop("day_ends_at")
        headline.read(figures_now, Snapshot.parse(figures_now.pop("snapshot")))
        return headline, [table_tag("invoices"), table_tag("users"), HEADLINE_FIGURES], day_ends_at

    # Orders change the figures as they are written (jaan.shop.dashboard.headline); they are kept
    # until an invoice or user is written (a product change, a setting such as the store's time
    # zone, empties the whole cache), or the store's day ends (overdueInvoices).
    return cached_response(request, await request.app[RESPONSE_CACHE].fetch("admin stats", build), private=True)


@routes.route(
    "GET",
    "/api/admin/dashboard-data",
    access=Access.ADMIN,
    summary="The dashboard page's figures",
    responses={200: Figures},
)
async def dashboard_data(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        tz, today = await figures.store_clock(cur)
        week = Period(today - dt.timedelta(days=6), today, tz)
        window = Period(today - dt.timedelta(days=DASHBOARD_WINDOW_DAYS - 1), today, tz)
        return ok(
            {
                "revenueTrend": await figures.daily(cur, week),
                "categoryBreakdown": await figures.categories(cur, window, 6),
                "topProducts": await figures.top_products(cur, window, 5),
                "recentOrders": await cur.fetch_all(_RECENT_ORDERS_SQL),
                "recentActivity": await cur.fetch_all(_RECENT_ACTIVITY_SQL),
                "windowDays": DASHBOARD_WINDOW_DAYS,
            }
        )


def analytics_period(query: AnalyticsQuery, tz: str, today: dt.date) -> Period:
    """The requested range, by default the last twelve calendar months to today; 400 if absurd."""
    end = query.end or today
    months_back = end.year * 12 + end.month - 1 - 11
    start = query.start or dt.date(months_back // 12, months_back % 12 + 1, 1)
    if end < start:
        raise InvalidInput("Invalid input", details={"end": "must not be before start"})
    if (end - start).days + 1 > MAX_RANGE_DAYS:
        raise InvalidInput("Invalid input", details={"start": f"the range may cover at most {MAX_RANGE_DAYS} days"})
    return Period(start, end, tz)


def _change(now: Decimal, before: Decimal) -> Decimal:
    """Percent change, one decimal; 0 when there is nothing to compare with."""
    return Decimal(0) if not before else ((now - before) / before * 100).quantize(Decimal("0.1"))


@routes.route(
    "GET",
    "/api/admin/analytics",
    access=Access.ADMIN,
    summary="Sales analytics for a range of store-local dates (default: the last 12 months)",
    query=AnalyticsQuery,
    responses={200: Figures},
)
async def analytics(request: web.Request, query: AnalyticsQuery) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        tz, today = await figures.store_clock(cur)
        period = analytics_period(query, tz, today)
        now, before = await figures.totals(cur, period), await figures.totals(cur, period.before())
        metrics = {
            "totalRevenue": now["revenue"],
            "totalOrders": now["orders"],
            "totalCustomers": now["customers"],
            "avgOrderValue": money(now["revenue"] / now["orders"]) if now["orders"] else Decimal(0),
            "revenueChange": _change(now["revenue"], before["revenue"]),
        }
        return ok(
            {
                "metrics": metrics,
                "monthlyTrend": await figures.monthly(cur, period),
                "dailyTrend": await figures.daily(cur, period),
                "categoryBreakdown": await figures.categories(cur, period, 10),
                "statusDistribution": await figures.statuses(cur, period),
                "topCustomers": await figures.top_customers(cur, period, 10),
                "range": {"start": period.start, "end": period.end, "timezone": tz},
            }
        )
