"""The store's settings: the public subset the storefront reads (#47) and the admin's view and
edits (#44–#46).

Every value is typed (number, boolean or text, the row's value_type) and checked on write, per key
where a key has tighter rules (a tax rate between 0 and 1, payment terms in whole days, a real time
zone), so invoice and order maths can never meet a non-number (D-37).  Keys are fixed by
migrations: an unknown key is 404, never created.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from aiohttp import web

from jaan.db.pool import Cursor, Row
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.shop.freshness import forget_catalogue_here
from jaan.state import DATABASE
from jaan.web.envelope import dumps, ok
from jaan.web.errors import InvalidInput, NotFound
from jaan.web.response_cache import RESPONSE_CACHE, cached_response
from jaan.web.validation import Boolean, Decimal_, Field, FieldError, Integer, Money, String, parse_body

routes = RouteTable("settings")


class _AnyValue(Field):
    """A setting's new value as sent: the setting's own type decides what it must be."""

    def parse(self, value: Any, from_text: bool) -> Any:
        return value

    def json_schema(self) -> dict[str, Any]:
        return {"type": ["number", "boolean", "string"]}


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
    async def build() -> tuple[bytes, list[str]]:
        rows = await request.app[DATABASE].fetch_all(
            "SELECT key, value, value_type FROM settings WHERE is_public ORDER BY key"
        )
        data = {row["key"]: typed_value(row["value"], row["value_type"]) for row in rows}
        return dumps({"success": True, "data": data}), []

    return cached_response(request, await request.app[RESPONSE_CACHE].fetch("public settings", build))


# What each known key accepts beyond its type; other keys are checked by their value_type alone.
RATE = Decimal_(minimum=0, maximum=1)
KEY_RULES: dict[str, Field] = {
    "tax_rate": RATE,
    "purchase_tax_rate": RATE,
    "default_shipping_fee": Money(maximum=1_000_000),
    "free_shipping_threshold": Money(maximum=1_000_000),
    "invoice_payment_terms_days": Integer(minimum=0, maximum=365),
}
TYPE_RULES: dict[str, Field] = {
    "number": Decimal_(minimum=None, maximum=10**12),
    "boolean": Boolean(),
    "text": String(max_length=1000),
}
SETTING_CHANGE: dict[str, Field] = {"value": _AnyValue()}


def _shaped(row: Row) -> Row:
    return {**row, "value": typed_value(row["value"], row["value_type"])}


def stored_text(key: str, value_type: str, value: Any) -> str:
    """`value` checked against the setting's type and rules, as the text the settings table stores."""
    field = KEY_RULES.get(key) or TYPE_RULES[value_type]
    try:
        parsed = field.parse(value, True)
    except FieldError as exc:
        raise InvalidInput("Invalid input", details={"value": str(exc)}) from None
    if value_type == "boolean":
        return "true" if parsed else "false"
    if value_type == "number":
        return format(Decimal(parsed), "f")
    return str(parsed)


@routes.route("GET", "/api/admin/settings", access=Access.ADMIN, summary="Every setting, by category and key")
async def all_settings(request: web.Request) -> web.Response:
    rows = await request.app[DATABASE].fetch_all("SELECT * FROM settings ORDER BY category, key")
    return ok([_shaped(row) for row in rows])


@routes.route("GET", "/api/admin/settings/{category}", access=Access.ADMIN, summary="The settings of one category")
async def settings_of_category(request: web.Request) -> web.Response:
    rows = await request.app[DATABASE].fetch_all(
        "SELECT * FROM settings WHERE category = %s ORDER BY key", (request.match_info["category"],)
    )
    return ok([_shaped(row) for row in rows])


@routes.route(
    "PUT", "/api/admin/settings/{key}", access=Access.ADMIN, summary="Change a setting's value", body=SETTING_CHANGE
)
async def change_setting(request: web.Request) -> web.Response:
    body = await parse_body(request, SETTING_CHANGE)
    key = request.match_info["key"]
    actor = current_user(request)
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one("SELECT * FROM settings WHERE key = %s FOR UPDATE", (key,))
        if row is None:
            raise NotFound("Setting not found")
        text = stored_text(key, row["value_type"], body["value"])
        if key == "store_timezone" and not await cur.fetch_value(
            "SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = %s)", (text,)
        ):
            raise InvalidInput("Invalid input", details={"value": "is not a known IANA time zone"})
        updated = await cur.fetch_one(
            "UPDATE settings SET value = %s, updated_by = %s WHERE id = %s RETURNING *", (text, actor.id, row["id"])
        )
        assert updated is not None
        await record_activity(
            cur,
            type="system",
            action="Setting Changed",
            actor=actor,
            entity_type="setting",
            entity_id=key,
            description=f"{key}: {row['value']} → {text}",
            details={"key": key, "from": row["value"], "to": text},
        )
    forget_catalogue_here(request)
    return ok(_shaped(updated))
