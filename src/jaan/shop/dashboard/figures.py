"""Aggregate queries over orders for a period of store-local days.

A period's bounds become timestamptz in SQL (``day::timestamp AT TIME ZONE tz``), so each query is
one range scan of ``orders_created_at_idx``; days and months come from ``generate_series`` so that
empty ones are there with zeros.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from jaan.db.pool import Cursor, Row


@dataclass(frozen=True)
class Period:
    """Store-local days ``start`` to ``end``, both included."""

    start: dt.date
    end: dt.date
    tz: str

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def before(self) -> Period:
        """The period of the same length just before this one."""
        return Period(self.start - dt.timedelta(days=self.days), self.start - dt.timedelta(days=1), self.tz)

    def params(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "tz": self.tz}


# Orders placed in the period, and those of them that count (not cancelled).
IN_PERIOD = (
    "o.created_at >= (%(start)s::timestamp AT TIME ZONE %(tz)s)"
    " AND o.created_at < ((%(end)s + 1)::timestamp AT TIME ZONE %(tz)s)"
)
COUNTED = f"{IN_PERIOD} AND o.status <> 'cancelled'"


async def store_clock(cur: Cursor) -> tuple[str, dt.date]:
    """The store's time zone and today's date there."""
    row = await cur.fetch_one(
        "SELECT coalesce(max(value), 'UTC') AS tz, (now() AT TIME ZONE coalesce(max(value), 'UTC'))::date AS today"
        " FROM settings WHERE key = 'store_timezone'"
    )
    assert row is not None
    return str(row["tz"]), row["today"]


async def totals(cur: Cursor, period: Period) -> Row:
    """Revenue, orders and distinct registered customers of the period."""
    row = await cur.fetch_one(
        "SELECT coalesce(sum(o.total), 0) AS revenue, count(*)::int AS orders,"
        f" count(DISTINCT o.user_id)::int AS customers FROM orders o WHERE {COUNTED}",
        period.params(),
    )
    assert row is not None
    return row


async def daily(cur: Cursor, period: Period) -> list[Row]:
    """One row per day of the period: label (Mon…), day, revenue, orders."""
    return await cur.fetch_all(
        "WITH sold AS (SELECT (o.created_at AT TIME ZONE %(tz)s)::date AS day, sum(o.total) AS revenue,"
        f"  count(*)::int AS orders FROM orders o WHERE {COUNTED} GROUP BY 1)"
        " SELECT to_char(d, 'Dy') AS label, d::date AS day, coalesce(sold.revenue, 0) AS revenue,"
        "  coalesce(sold.orders, 0) AS orders"
        " FROM generate_series(%(start)s::date, %(end)s::date, interval '1 day') AS d"
        " LEFT JOIN sold ON sold.day = d::date ORDER BY d",
        period.params(),
    )


async def monthly(cur: Cursor, period: Period) -> list[Row]:
    """One row per calendar month the period touches, in order (months of two years never merge)."""
    return await cur.fetch_all(
        "WITH sold AS (SELECT date_trunc('month', o.created_at AT TIME ZONE %(tz)s)::date AS month,"
        "  sum(o.total) AS revenue, count(*)::int AS orders, count(DISTINCT o.user_id)::int AS customers"
        f"  FROM orders o WHERE {COUNTED} GROUP BY 1)"
        " SELECT to_char(m, 'Mon') AS month, to_char(m, 'YYYY-MM') AS period, coalesce(sold.revenue, 0) AS revenue,"
        "  coalesce(sold.orders, 0) AS orders, coalesce(sold.customers, 0) AS customers"
        " FROM generate_series(date_trunc('month', %(start)s::date), date_trunc('month', %(end)s::date),"
        "  interval '1 month') AS m"
        " LEFT JOIN sold ON sold.month = m::date ORDER BY m",
        period.params(),
    )


async def categories(cur: Cursor, period: Period, limit: int) -> list[Row]:
    """The best-selling categories: name ('Uncategorized' for none), distinct orders, sales."""
    return await cur.fetch_all(
        "SELECT coalesce(c.name, 'Uncategorized') AS name, count(DISTINCT o.id)::int AS orders,"
        " sum(oi.total_price) AS sales"
        " FROM orders o JOIN order_items oi ON oi.order_id = o.id"
        " LEFT JOIN products p ON p.id = oi.product_id LEFT JOIN categories c ON c.id = p.category_id"
        f" WHERE {COUNTED} GROUP BY 1 ORDER BY sales DESC, name LIMIT %(limit)s",
        {**period.params(), "limit": limit},
    )


async def top_products(cur: Cursor, period: Period, limit: int) -> list[Row]:
    """The best-selling products by revenue: name (as sold), units sold, revenue."""
    return await cur.fetch_all(
        "SELECT min(oi.product_name) AS name, sum(oi.quantity)::int AS sales, sum(oi.total_price) AS revenue"
        f" FROM orders o JOIN order_items oi ON oi.order_id = o.id WHERE {COUNTED}"
        " GROUP BY coalesce(oi.product_id::text, oi.product_name) ORDER BY revenue DESC, name LIMIT %(limit)s",
        {**period.params(), "limit": limit},
    )


async def top_customers(cur: Cursor, period: Period, limit: int) -> list[Row]:
    """The registered customers who spent most: name (full name or email), orders, revenue."""
    return await cur.fetch_all(
        "SELECT coalesce(nullif(u.full_name, ''), u.email) AS name, count(*)::int AS orders,"
        " sum(o.total) AS revenue"
        f" FROM orders o JOIN users u ON u.id = o.user_id WHERE {COUNTED}"
        " GROUP BY u.id ORDER BY revenue DESC, name LIMIT %(limit)s",
        {**period.params(), "limit": limit},
    )


async def statuses(cur: Cursor, period: Period) -> list[Row]:
    """How many orders of the period are in each status (cancelled included: it is a status)."""
    return await cur.fetch_all(
        f"SELECT o.status::text AS status, count(*)::int AS count FROM orders o WHERE {IN_PERIOD}"
        " GROUP BY o.status ORDER BY o.status",
        period.params(),
    )
