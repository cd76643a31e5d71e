"""The JSON envelope every response uses, and how our values become JSON.

Money is ``Decimal`` from the database to here and leaves as a JSON number with at
most two decimals; timestamps leave as ISO 8601 in UTC with ``Z``; dates as ``YYYY-MM-DD``.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import orjson
from aiohttp import web

CENT = Decimal("0.01")


def money(value: Decimal | int | str) -> Decimal:
    """The one rounding rule for money: half up, to cents."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def _default(value: Any) -> Any:
    # orjson calls this only for what it cannot encode itself (it does datetimes, dates, UUIDs).
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("refusing to send a non-finite number")
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


# Timestamps leave as ISO 8601 in UTC with "Z" (every connection runs in UTC); a naive one would
# be a bug, and is refused by the database layer never producing one.
_OPTIONS = orjson.OPT_UTC_Z


def dumps(value: Any) -> bytes:
    """Our values as JSON bytes: Decimal money as numbers, timestamps with Z, dates as YYYY-MM-DD."""
    return orjson.dumps(value, default=_default, option=_OPTIONS)


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """A JSON response with the body as given (for the spec's bare, non-enveloped shapes)."""
    return web.Response(body=dumps(body), status=status, content_type="application/json", headers=headers)


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
