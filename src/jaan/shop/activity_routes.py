"""The activity log as admins read it (#32): filtered, searched, newest first, paginated.

The rows are written by :func:`jaan.shop.activity.record_activity`; this module only reads them.
The page keeps the original's ``activities`` key (the client reads it) and adds the shared paging
keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from aiohttp import web

from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.shop.activity import ActivityType, Severity
from jaan.state import DATABASE
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import ok
from jaan.web.fields import Text
from jaan.web.paging import Paging, PerPage, fetch_page

routes = RouteTable("activity")


class ActivityQuery(Paging):
    type: Literal["all", ActivityType] = "all"
    severity: Literal["all", Severity] = "all"
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any
    per_page: PerPage = 50


class ActivityRow(Shape):
    id: Any
    type: ActivityType
    action: str
    severity: Severity
    created_at: dt.datetime


class ActivityPage(Shape):
    activities: list[ActivityRow]
    total: int
    page: int
    per_page: int
    total_pages: int


class ActivityLog(Envelope[ActivityPage]):
    """One page of the log, newest first (the original's ``activities`` key)."""


@routes.route(
    "GET",
    "/api/admin/activity",
    access=Access.ADMIN,
    summary="The activity log",
    query=ActivityQuery,
    responses={200: ActivityLog},
)
async def list_activity(request: web.Request, query: ActivityQuery) -> web.Response:
    conditions: list[str] = ["true"]
    params: list[Any] = []
    for name, value in (("type", query.type), ("severity", query.severity)):
        if value != "all":
            conditions.append(f"{name} = %s")  # name is one of the two above, never input
            params.append(value)
    if query.search:
        # The expression of activity_logs_search_trgm_idx, so the index serves it.
        conditions.append("(description || ' ' || coalesce(user_name, '') || ' ' || coalesce(user_email, '')) ILIKE %s")
        params.append(f"%{escape_like(query.search)}%")
    where = " AND ".join(conditions)
    async with request.app[DATABASE].cursor() as cur:
        rows, total = await fetch_page(
            cur,
            query,
            f"SELECT * FROM activity_logs WHERE {where} ORDER BY created_at DESC, id DESC",
            f"SELECT count(*) FROM activity_logs WHERE {where}",
            params,
        )
    paging = query.result(rows, total)
    return ok({"activities": paging.pop("data"), **paging})
