"""Product variants (#14–#17): sizes, flavours and packs of a product, with their own SKU and price.

A variant's on-hand quantity is the part of its product's stock held as that variant, and
moves only through the stock ledger (:mod:`jaan.shop.inventory.ledger`): the form's
``onHandQuantity`` becomes a ledger row (opening stock on create, a correction on edit) that
moves the product's stock with it.  Variants may be deleted outright; their units stay in the
product's stock, and the ledger rows that named one keep the product and lose the variant (SET NULL).
"""

from __future__ import annotations

from typing import Annotated, Any

import psycopg2.errors
import psycopg2.extras
from aiohttp import web
from pydantic import Field

from jaan.db.pool import Cursor, Row
from jaan.db.sql import assignments, insert_sql
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.catalogue.forms import UpcA, Zero
from jaan.shop.freshness import forget_stock_here
from jaan.shop.inventory.ledger import AdjustmentType, change_stock
from jaan.state import DATABASE
from jaan.web.answers import Done, Envelope, Shape
from jaan.web.client_address import client_address
from jaan.web.envelope import json_response, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.fields import MAX_INT, Blank, Money, Text, Weight
from jaan.web.input import FormBody, id_from_path, partial

routes = RouteTable("catalogue admin")

JsonScalar = str | int | float | bool | None


class NewVariant(FormBody):
    """A variant; its onHandQuantity is set through the stock ledger."""

    blanks = ("sku", "upcCode")
    zeros = ("comparePrice", "costPrice", "weight")

    variant_name: Annotated[str, Text(1, 255)]
    variant_type: Annotated[str, Text(1, 50)]
    price: Money
    sku: Annotated[str, Text(1, 100)] | Blank | None = None
    upc_code: UpcA | Blank | None = None
    compare_price: Money | Blank | None = None
    cost_price: Money | Blank | None = None
    on_hand_quantity: Annotated[int, Field(ge=0, le=MAX_INT)] = 0
    low_stock_threshold: Annotated[int, Field(ge=0, le=MAX_INT)] = 10
    weight: Weight | Zero | Blank | None = None
    weight_unit: Annotated[str, Text(1, 20)] = "kg"
    # Free-form, but flat: a name and a JSON scalar per attribute (size: "1 kg", organic: true).
    attributes: Annotated[dict[Annotated[str, Text(max_length=100)], JsonScalar], Field(max_length=50)] | None = Field(
        default_factory=dict
    )
    sort_order: Annotated[int, Field(ge=-1_000_000, le=1_000_000)] = 0
    is_active: bool = True


VariantChanges = partial(NewVariant, "VariantChanges")


class Variant(Shape):
    id: int
    product_id: int
    variant_name: str
    variant_type: str
    price: float
    is_active: bool


class OneVariant(Envelope[Variant]):
    """The variant."""


class VariantList(Envelope[list[Variant]]):
    """The product's variants, in the admin's order."""


_LIVE_PRODUCT_SQL = "SELECT id, name FROM products WHERE id = %s AND archived_at IS NULL"
_LIST_SQL = "SELECT * FROM product_variants WHERE product_id = %s ORDER BY sort_order, variant_name, id"
_DELETE_SQL = "DELETE FROM product_variants WHERE id = %s RETURNING id, product_id, variant_name, sku"


def _variant_form(body: NewVariant, *, sent_only: bool) -> dict[str, Any]:
    """The form by column name (only what was sent, for an edit)."""
    values = body.model_dump(exclude_unset=sent_only)
    if "attributes" in values:
        values["attributes"] = psycopg2.extras.Json(values["attributes"] or {})
    return values


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
    """Add a variant to a live product; its opening stock goes through the ledger."""
    product = await _live_product(cur, product_id)
    opening = values.get("on_hand_quantity", 0)
    values = {**values, "product_id": product_id, "on_hand_quantity": 0}
    row = await _write(cur, insert_sql("product_variants", values), values)
    assert row is not None
    if opening:
        await _set_on_hand(cur, row, opening, actor, "restock", "opening stock")
    await record_activity(
        cur,
        type="product",
        action="Variant Created",
        description=f"Variant {row['variant_name']} of {product['name']} created",
        actor=actor,
        entity_type="product_variant",
        entity_id=row["id"],
        details={"product_id": row["product_id"], "sku": row["sku"]},
        ip_address=ip,
    )
    return row


async def update_variant(
    cur: Cursor, variant_id: int, values: dict[str, Any], actor: CurrentUser, ip: str | None
) -> Row:
    """Change only the fields sent (an omitted isActive stays as it is); on-hand through the ledger."""
    changes = {column: value for column, value in values.items() if column != "on_hand_quantity"}
    if changes:
        sql = f"UPDATE product_variants SET {assignments(changes)} WHERE id = %(id)s RETURNING *"
    else:
        sql = "SELECT * FROM product_variants WHERE id = %(id)s FOR UPDATE"
    row = await _write(cur, sql, {**changes, "id": variant_id})  # locked until commit: on-hand cannot move
    if row is None:
        raise NotFound("Variant not found")
    if "on_hand_quantity" in values:
        await _set_on_hand(cur, row, values["on_hand_quantity"], actor, "correction", "variant form")
    await record_activity(
        cur,
        type="product",
        action="Variant Updated",
        description=f"Variant {row['variant_name']} updated",
        actor=actor,
        entity_type="product_variant",
        entity_id=row["id"],
        details={"product_id": row["product_id"], "sku": row["sku"], "fields": sorted(values)},
        ip_address=ip,
    )
    return row


async def _set_on_hand(
    cur: Cursor, row: Row, quantity: int, actor: CurrentUser, kind: AdjustmentType, reason: str
) -> None:
    """Bring a variant's on-hand (and its product's stock) to `quantity` with one ledger row."""
    delta = quantity - int(row["on_hand_quantity"])
    if delta:
        await change_stock(
            cur,
            row["product_id"],
            delta,
            kind,
            actor=actor,
            reason=f"{reason}: {row['variant_name']}",
            variant_id=row["id"],
        )
        row["on_hand_quantity"] = quantity


async def delete_variant(cur: Cursor, variant_id: int, actor: CurrentUser, ip: str | None) -> None:
    """Delete a variant; the ledger keeps its rows, without the variant."""
    row = await cur.fetch_one(_DELETE_SQL, (variant_id,))
    if row is None:
        raise NotFound("Variant not found")
    await record_activity(
        cur,
        type="product",
        action="Variant Deleted",
        description=f"Variant {row['variant_name']} deleted",
        actor=actor,
        entity_type="product_variant",
        entity_id=row["id"],
        details={"product_id": row["product_id"], "sku": row["sku"]},
        ip_address=ip,
    )


@routes.route(
    "GET",
    "/api/admin/products/{id}/variants",
    access=Access.ADMIN,
    summary="The variants of a product",
    responses={200: VariantList},
)
async def get_variants(request: web.Request) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    async with request.app[DATABASE].cursor() as cur:
        return ok(await product_variants(cur, product_id))


@routes.route(
    "POST",
    "/api/admin/products/{id}/variants",
    access=Access.ADMIN,
    summary="Add a variant to a product",
    body=NewVariant,
    responses={200: OneVariant},
    errors=(409,),
)
async def post_variant(request: web.Request, body: NewVariant) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    values = _variant_form(body, sent_only=False)
    async with request.app[DATABASE].transaction() as cur:
        row = await create_variant(cur, product_id, values, current_user(request), client_address(request))
    forget_stock_here(request, product_id)
    return ok(row)


@routes.route(
    "PUT",
    "/api/admin/variants/{id}",
    access=Access.ADMIN,
    summary="Edit a variant: only the fields sent change",
    body=VariantChanges,
    responses={200: OneVariant},
    errors=(409,),
)
async def put_variant(request: web.Request, body: NewVariant) -> web.Response:
    variant_id = id_from_path(request, "Variant not found")
    values = _variant_form(body, sent_only=True)
    async with request.app[DATABASE].transaction() as cur:
        row = await update_variant(cur, variant_id, values, current_user(request), client_address(request))
    forget_stock_here(request, row["product_id"])
    return ok(row)


@routes.route(
    "DELETE", "/api/admin/variants/{id}", access=Access.ADMIN, summary="Delete a variant", responses={200: Done}
)
async def delete_variant_route(request: web.Request) -> web.Response:
    variant_id = id_from_path(request, "Variant not found")
    async with request.app[DATABASE].transaction() as cur:
        await delete_variant(cur, variant_id, current_user(request), client_address(request))
    return json_response({"success": True})
