"""The store's settings as the public storefront reads them (#47)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

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


@routes.route("GET", "/api/settings/public", access=Access.PUBLIC, summary="Settings the storefront may read")
async def public_settings(request: web.Request) -> web.Response:
    rows = await request.app[DATABASE].fetch_all(
        "SELECT key, value, value_type FROM settings WHERE is_public ORDER BY key"
    )
    return ok({row["key"]: typed_value(row["value"], row["value_type"]) for row in rows})
