"""The store's settings: the public subset the storefront reads (#47) and the admin's view and
edits (#44–#46).

Every value is typed (number, boolean or text, the row's value_type) and checked on write, per key
where a key has tighter rules (a tax rate between 0 and 1, payment terms in whole days, a real time
zone), so invoice and order maths can never meet a non-number (D-37).  Keys are fixed by
migrations: an unknown key is 404, never created.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, TypeAdapter, ValidationError

from jaan.db.pool import Cursor, Row
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.shop.freshness import forget_catalogue_here
from jaan.state import DATABASE
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import dumps, ok
from jaan.web.errors import InvalidInput, NotFound
from jaan.web.fields import Money, Rate, Text
from jaan.web.input import Body
from jaan.web.input import message_of as _message
from jaan.web.response_cache import RESPONSE_CACHE, cached_response

routes = RouteTable("settings")


class PublicSettings(Envelope[dict[str, bool | float | str]]):
    """The public settings, key to typed value."""


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


@routes.route(
    "GET",
    "/api/settings/public",
    access=Access.PUBLIC,
    summary="Settings the storefront may read",
    responses={200: PublicSettings},
)
async def public_settings(request: web.Request) -> web.Response:
    async def build() -> tuple[bytes, list[str]]:
        rows = await request.app[DATABASE].fetch_all(
            "SELECT key, value, value_type FROM settings WHERE is_public ORDER BY key"
        )
        data = {row["key"]: typed_value(row["value"], row["value_type"]) for row in rows}
        return dumps({"success": True, "data": data}), []

    return cached_response(request, await request.app[RESPONSE_CACHE].fetch("public settings", build))


# What each known key accepts beyond its type; other keys are checked by their value_type alone.
# (Lax: a form may send "0.08" or "30" as text.)
KEY_RULES: dict[str, TypeAdapter[Any]] = {
    "tax_rate": TypeAdapter(Rate),
    "purchase_tax_rate": TypeAdapter(Rate),
    "default_shipping_fee": TypeAdapter(Annotated[Money, Field(le=1_000_000)]),
    "free_shipping_threshold": TypeAdapter(Annotated[Money, Field(le=1_000_000)]),
    "invoice_payment_terms_days": TypeAdapter(Annotated[int, Field(ge=0, le=365)]),
}
TYPE_RULES: dict[str, TypeAdapter[Any]] = {
    "number": TypeAdapter(Annotated[Money, Field(le=10**9)]),
    "boolean": TypeAdapter(bool),
    "text": TypeAdapter(Annotated[str, Text(max_length=1000)]),
}


class SettingChange(Body):
    """The new value: the setting's own type (and, for some keys, its rules) decide what it may be."""

    value: bool | int | float | Annotated[str, Text(max_length=1000)]


class Setting(Shape):
    key: str
    value: bool | float | str
    value_type: Literal["number", "boolean", "text"]
    category: str


class SettingList(Envelope[list[Setting]]):
    """Settings by category and key."""


class OneSetting(Envelope[Setting]):
    """The setting."""


def _shaped(row: Row) -> Row:
    return {**row, "value": typed_value(row["value"], row["value_type"])}


def stored_text(key: str, value_type: str, value: Any) -> str:
    """`value` checked against the setting's type and rules, as the text the settings table stores."""
    rule = KEY_RULES.get(key) or TYPE_RULES[value_type]
    try:
        parsed = rule.validate_python(value)
    except ValidationError as exc:
        raise InvalidInput("Invalid input", details={"value": _message(exc.errors()[0])}) from None
    if value_type == "boolean":
        return "true" if parsed else "false"
    if value_type == "number":
        return format(Decimal(parsed), "f")
    return str(parsed)


@routes.route(
    "GET",
    "/api/admin/settings",
    access=Access.ADMIN,
    summary="Every setting, by category and key",
    responses={200: SettingList},
)
async def all_settings(request: web.Request) -> web.Response:
    rows = await request.app[DATABASE].fetch_all("SELECT * FROM settings ORDER BY category, key")
    return ok([_shaped(row) for row in rows])


@routes.route(
    "GET",
    "/api/admin/settings/{name}",
    access=Access.ADMIN,
    summary="The settings of one category",
    responses={200: SettingList},
)
async def settings_of_category(request: web.Request) -> web.Response:
    rows = await request.app[DATABASE].fetch_all(
        "SELECT * FROM settings WHERE category = %s ORDER BY key", (request.match_info["name"],)
    )
    return ok([_shaped(row) for row in rows])


@routes.route(
    "PUT",
    "/api/admin/settings/{name}",
    access=Access.ADMIN,
    summary="Change a setting's value",
    body=SettingChange,
    responses={200: OneSetting},
)
async def change_setting(request: web.Request, body: SettingChange) -> web.Response:
    key = request.match_info["name"]
    actor = current_user(request)
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one("SELECT * FROM settings WHERE key = %s FOR UPDATE", (key,))
        if row is None:
            raise NotFound("Setting not found")
        text = stored_text(key, row["value_type"], body.value)
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
