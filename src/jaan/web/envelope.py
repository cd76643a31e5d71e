"""The JSON envelope every response uses, and how our values become JSON.

Money is ``Decimal`` from the database to here and leaves as a JSON number with at
most two decimals; timestamps leave as ISO 8601 in UTC with ``Z``; dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from aiohttp import web

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """The one rounding rule for money: half up, to cents."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("refusing to send a non-finite number")
        return float(value) if value != value.to_integral_value() else int(value)
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError("refusing to send a naive timestamp")
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    return json.dumps(value, default=_default, separators=(",", ":"), allow_nan=False)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with the body as given (for the spec's bare, non-enveloped shapes)."""
    return web.Response(text=dumps(body), status=status, content_type="application/json", headers=headers)


def ok(data: Any = None, status: int = 200, **extra: Any) -> web.Response:
    """``{"success": true, "data": ...}``, plus any extra top-level keys."""
    return json_response({"success": True, "data": data, **extra}, status=status)


def failure(
    status: int,
    message: str,
    *,
    details: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> web.Response:
    """``{"success": false, "error": "<message>"}``, plus ``details`` for invalid input."""
    body: dict[str, Any] = {"success": False, "error": message}
    if details:
        body["details"] = details
    body.update(extra)
    return json_response(body, status=status, headers=headers)
