"""Product variants (#14–#17): sizes, flavours and packs of a product, with their own SKU and price.

Catalogue data only: stock is counted per product in the ledger.  Variants may be deleted
outright; the ledger rows that named one keep the product and lose the variant (SET NULL).
"""

from __future__ import annotations

from typing import Any

import psycopg2.errors
import psycopg2.extras
from aiohttp import web

from jaan.db.pool import Cursor, Row
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.catalogue.forms import Weight, blank_as_null, upc_a
from jaan.state import DATABASE
from jaan.web.client_address import client_address
from jaan.web.envelope import json_response, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.validation import Boolean, Field, Integer, Mapping_, Money, String, id_from_path, read_json, validate

routes = RouteTable("catalogue admin")

COLUMNS = {
    "variantName": "variant_name",
    "variantType": "variant_type",
    "sku": "sku",
    "upcCode": "upc_code",
    "price": "price",
    "comparePrice": "compare_price",
    "costPrice": "cost_price",
    "onHandQuantity": "on_hand_quantity",
    "lowStockThreshold": "low_stock_threshold",
    "weight": "weight",
    "weightUnit": "weight_unit",
    "attributes": "attributes",
    "sortOrder": "sort_order",
    "isActive": "is_active",
}

VARIANT_BODY: dict[str, Field] = {
    "variantName": String(min_length=1, max_length=255),
    "variantType": String(min_length=1, max_length=50),
    "price": Money(),
    "sku": String(min_length=1, max_length=100, required=False, nullable=True),
    "upcCode": String(pattern=r"[0-9]{12}", required=False, nullable=True),
    "comparePrice": Money(required=False, nullable=True),
    "costPrice": Money(required=False, nullable=True),
    "onHandQuantity": Integer(minimum=0, default=0),
    "lowStockThreshold": Integer(minimum=0, default=10),
    "weight": Weight(required=False, nullable=True),
    "weightUnit": String(min_length=1, max_length=20, default="kg"),
    "attributes": Mapping_(default={}, nullable=True),
    "sortOrder": Integer(minimum=-1_000_000, maximum=1_000_000, default=0),
    "isActive": Boolean(default=True),
}
_BLANK_MEANS_NONE = ("sku", "upcCode")
_ZERO_MEANS_NONE = ("comparePrice", "costPrice", "weight")

_LIVE_PRODUCT_SQL = "SELECT id, name FROM products WHERE id = %s AND archived_at IS NULL"
_LIST_SQL = "SELECT * FROM product_variants WHERE product_id = %s ORDER BY sort_order, variant_name, id"
_DELETE_SQL = "DELETE FROM product_variants WHERE id = %s RETURNING id, product_id, variant_name, sku"


async def _variant_form(request: web.Request, *, partial: bool) -> dict[str, Any]:
    data = blank_as_null(await read_json(request), blanks=_BLANK_MEANS_NONE, zeros=_ZERO_MEANS_NONE)
    form = validate(VARIANT_BODY, data, partial=partial)
    upc_a(form, "upcCode")
    if "attributes" in form:
        form["attributes"] = psycopg2.extras.Json(form["attributes"] or {})
    return {COLUMNS[key]: value for key, value in form.items()}


async def _live_product(cur: Cursor, product_id: int) -> Row:
    product = await cur.fetch_one(_LIVE_PRODUCT_SQL, (product_id,))
    if product is None:
        raise NotFound("Product not found")
    return product


async def _write(cur: Cursor, sql: str, params: dict[str, Any]) -> Row | None:
    try:
        return await cur.fetch_one(sql, params)
    except psycopg2.errors.UniqueViolation as exc:
        raise Conflict("A variant with this SKU already exists") from exc


async def product_variants(cur: Cursor, product_id: int) -> list[Row]:
    """The variants of a live product, in the admin's order; 404 for a missing product."""
    await _live_product(cur, product_id)
    return await cur.fetch_all(_LIST_SQL, (product_id,))


async def create_variant(
    cur: Cursor, product_id: int, values: dict[str, Any], actor: CurrentUser, ip: str | None
) -> Row:
    """Add a variant to a live product."""
    product = await _live_product(cur, product_id)
    values = {**values, "product_id": product_id}
    names = list(values)
    row = await _write(
        cur,
        f"INSERT INTO product_variants ({', '.join(names)})"
        f" VALUES ({', '.join(f'%({name})s' for name in names)}) RETURNING *",
        values,
    )
    assert row is not None
    await _record(cur, "Variant Created", f"Variant {row['variant_name']} of {product['name']} created", row, actor, ip)
    return row


async def update_variant(
    cur: Cursor, variant_id: int, values: dict[str, Any], actor: CurrentUser, ip: str | None
) -> Row:
    """Change only the fields sent (an omitted isActive stays as it is)."""
    if values:
        assignments = ", ".join(f"{column} = %({column})s" for column in values)
        sql = f"UPDATE product_variants SET {assignments} WHERE id = %(id)s RETURNING *"
    else:
        sql = "SELECT * FROM product_variants WHERE id = %(id)s FOR UPDATE"
    row = await _write(cur, sql, {**values, "id": variant_id})
    if row is None:
        raise NotFound("Variant not found")
    await _record(cur, "Variant Updated", f"Variant {row['variant_name']} updated", row, actor, ip, sorted(values))
    return row


async def delete_variant(cur: Cursor, variant_id: int, actor: CurrentUser, ip: str | None) -> None:
    """Delete a variant; the ledger keeps its rows, without the variant."""
    row = await cur.fetch_one(_DELETE_SQL, (variant_id,))
    if row is None:
        raise NotFound("Variant not found")
    await _record(cur, "Variant Deleted", f"Variant {row['variant_name']} deleted", row, actor, ip)


async def _record(
    cur: Cursor,
    action: str,
    description: str,
    row: Row,
    actor: CurrentUser,
    ip: str | None,
    fields: list[str] | None = None,
) -> None:
    details: dict[str, Any] = {"product_id": row["product_id"], "sku": row["sku"]}
    if fields is not None:
        details["fields"] = fields
    await record_activity(
        cur,
        type="product",
        action=action,
        description=description,
        actor=actor,
        entity_type="product_variant",
        entity_id=row["id"],
        details=details,
        ip_address=ip,
    )


@routes.route("GET", "/api/admin/products/{id}/variants", access=Access.ADMIN, summary="The variants of a product")
async def get_variants(request: web.Request) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    async with request.app[DATABASE].cursor() as cur:
        return ok(await product_variants(cur, product_id))


@routes.route(
    "POST",
    "/api/admin/products/{id}/variants",
    access=Access.ADMIN,
    summary="Add a variant to a product",
    body=VARIANT_BODY,
)
async def post_variant(request: web.Request) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    values = await _variant_form(request, partial=False)
    async with request.app[DATABASE].transaction() as cur:
        row = await create_variant(cur, product_id, values, current_user(request), client_address(request))
    return ok(row)


@routes.route(
    "PUT",
    "/api/admin/variants/{id}",
    access=Access.ADMIN,
    summary="Edit a variant: only the fields sent change",
    body=VARIANT_BODY,
)
async def put_variant(request: web.Request) -> web.Response:
    variant_id = id_from_path(request, "Variant not found")
    values = await _variant_form(request, partial=True)
    async with request.app[DATABASE].transaction() as cur:
        row = await update_variant(cur, variant_id, values, current_user(request), client_address(request))
    return ok(row)


@routes.route("DELETE", "/api/admin/variants/{id}", access=Access.ADMIN, summary="Delete a variant")
async def delete_variant_route(request: web.Request) -> web.Response:
    variant_id = id_from_path(request, "Variant not found")
    async with request.app[DATABASE].transaction() as cur:
        await delete_variant(cur, variant_id, current_user(request), client_address(request))
    return json_response({"success": True})
