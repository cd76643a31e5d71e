"""The store's settings as the public storefront reads them (#47)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from jaan.db.pool import Cursor
from jaan.routes import Access, RouteTable
from jaan.state import DATABASE
from jaan.web.envelope import ok

routes = RouteTable("settings")


def typed_value(value: str, value_type: str) -> Any:
    """A setting's stored text as its declared type (numbers leave as JSON numbers)."""
    if value_type == "number":
        return Decimal(value)
    if value_type == "boolean":
        return value == "true"
    return value


async def read_settings(cur: Cursor, *keys: str) -> dict[str, Any]:
    """Typed values of the named settings (a missing key is simply absent)."""
    rows = await cur.fetch_all("SELECT key, value, value_type FROM settings WHERE key = ANY(%s)", (list(keys),))
    return {row["key"]: typed_value(row["value"], row["value_type"]) for row in rows}


@routes.route("GET", "/api/settings/public", access=Access.PUBLIC, summary="Settings the storefront may read")
async def public_settings(request: web.Request) -> web.Response:
    rows = await request.app[DATABASE].fetch_all(
        "SELECT key, value, value_type FROM settings WHERE is_public ORDER BY key"
    )
    return ok({row["key"]: typed_value(row["value"], row["value_type"]) for row in rows})
