"""The activity log as admins read it (#32): filtered, searched, newest first, paginated.

The rows are written by :func:`jaan.shop.activity.record_activity`; this module only reads them.
The page keeps the original's ``activities`` key (the client reads it) and adds the shared paging
keys.
"""

from __future__ import annotations

from typing import get_args

from aiohttp import web

from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.shop.activity import ActivityType, Severity
from jaan.state import DATABASE
from jaan.web.envelope import ok
from jaan.web.validation import Choice, Field, Integer, String, page_of, parse_query

routes = RouteTable("activity")

LIST_QUERY: dict[str, Field] = {
    "type": Choice(("all", *get_args(ActivityType)), default="all"),
    "severity": Choice(("all", *get_args(Severity)), default="all"),
    "search": String(max_length=200, required=False),
    "page": Integer(minimum=1, maximum=1_000_000, default=1),
    "per_page": Integer(minimum=1, maximum=100, default=50),
}


@routes.route("GET", "/api/admin/activity", access=Access.ADMIN, summary="The activity log", query=LIST_QUERY)
async def list_activity(request: web.Request) -> web.Response:
    query = parse_query(request, LIST_QUERY)
    page = page_of(request, default_per_page=50)
    conditions, params = ["true"], []
    for name in ("type", "severity"):
        if query[name] != "all":
            conditions.append(f"{name} = %s")  # name is one of the two above, never input
            params.append(query[name])
    if query.get("search"):
        # The expression of activity_logs_search_trgm_idx, so the index serves it.
        conditions.append("(description || ' ' || coalesce(user_name, '') || ' ' || coalesce(user_email, '')) ILIKE %s")
        params.append(f"%{escape_like(query['search'])}%")
    where = " AND ".join(conditions)
    async with request.app[DATABASE].cursor() as cur:
        rows = await cur.fetch_all(
            f"SELECT * FROM activity_logs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
            (*params, page.per_page, page.offset),
        )
        total = await cur.fetch_value(f"SELECT count(*) FROM activity_logs WHERE {where}", params)
    paging = page.result(rows, total)
    return ok({"activities": paging.pop("data"), **paging})
