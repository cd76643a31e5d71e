"""Admin product writes: create (#11), edit with PATCH semantics (#12), archive (#13).

Each is one transaction: the product row, any stock change through the ledger, and the
activity row commit together or not at all.
"""

from __future__ import annotations

from typing import Any

import psycopg2.errors
from aiohttp import web

from jaan.db.pool import Cursor, Row
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.catalogue.categories import resolve_category
from jaan.shop.catalogue.forms import Weight, blank_as_null, upc_a
from jaan.shop.catalogue.products import admin_product
from jaan.shop.catalogue.slugs import free_slug
from jaan.shop.freshness import forget_catalogue_here
from jaan.shop.inventory.ledger import change_stock
from jaan.state import DATABASE
from jaan.web.client_address import client_address
from jaan.web.envelope import json_response, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.validation import (
    Boolean,
    Choice,
    Date,
    Field,
    Integer,
    ListOf,
    Money,
    String,
    id_from_path,
    read_json,
    validate,
)

routes = RouteTable("catalogue admin")

TAX_CATEGORIES = ("grocery", "prepared_food", "beverage", "alcohol")

# The admin form's camelCase fields that map straight onto a column.
COLUMNS = {
    "name": "name",
    "sku": "sku",
    "description": "description",
    "shortDescription": "short_description",
    "price": "price",
    "comparePrice": "compare_price",
    "costPrice": "cost_price",
    "unit": "unit",
    "weight": "weight",
    "isFeatured": "is_featured",
    "isNew": "is_new",
    "images": "images",
    "lowStockThreshold": "low_stock_threshold",
    "allowNegativeStock": "allow_negative_stock",
    "upcCode": "upc_code",
    "isTaxable": "is_taxable",
    "taxCategory": "tax_category",
    "expiryDate": "expiry_date",
    "batchNumber": "batch_number",
    "lotNumber": "lot_number",
    "expiryAlertDays": "expiry_alert_days",
    "supplierName": "supplier_name",
    "supplierId": "supplier_id",
    "caseSize": "case_size",
    "leadTimeDays": "lead_time_days",
    "hasVariants": "has_variants",
}

PRODUCT_BODY: dict[str, Field] = {
    "name": String(min_length=1, max_length=200),
    "sku": String(min_length=1, max_length=100),
    "price": Money(),
    "description": String(max_length=10_000),
    "unit": String(min_length=1, max_length=20),
    "shortDescription": String(max_length=500, default=""),
    "categoryId": Integer(minimum=1, required=False, nullable=True),
    "category": String(max_length=200, required=False, nullable=True),  # a category name (old client)
    "comparePrice": Money(required=False, nullable=True),
    "costPrice": Money(required=False, nullable=True),
    "stock": Integer(minimum=0, default=0),
    "onHandQuantity": Integer(minimum=0, required=False, nullable=True),  # the old form's stock field
    "weight": Weight(required=False, nullable=True),
    "isFeatured": Boolean(default=False),
    "isNew": Boolean(default=False),
    "images": ListOf(String(min_length=1, max_length=2000), max_items=20, default=[], nullable=True),
    "lowStockThreshold": Integer(minimum=0, default=10),
    "allowNegativeStock": Boolean(default=False),
    "upcCode": String(pattern=r"[0-9]{12}", required=False, nullable=True),
    "isTaxable": Boolean(default=False),
    "taxCategory": Choice(TAX_CATEGORIES, default="grocery"),
    "expiryDate": Date(required=False, nullable=True),
    "batchNumber": String(max_length=50, required=False, nullable=True),
    "lotNumber": String(max_length=50, required=False, nullable=True),
    "expiryAlertDays": Integer(minimum=0, maximum=3650, default=7),
    "supplierName": String(max_length=255, required=False, nullable=True),
    "supplierId": Integer(minimum=1, required=False, nullable=True),
    "caseSize": Integer(minimum=1, required=False, nullable=True),
    "leadTimeDays": Integer(minimum=0, maximum=3650, required=False, nullable=True),
    "hasVariants": Boolean(default=False),
}
EDIT_BODY: dict[str, Field] = {
    **PRODUCT_BODY,
    "adjustmentReason": String(max_length=100, required=False, nullable=True),
}
# What the old client sends for "none" in these fields: "" for blanks, 0 for unset numbers
# (and 0 is not a meaningful compare price, weight, supplier or case size).
_BLANK_MEANS_NONE = ("category", "upcCode", "expiryDate", "batchNumber", "lotNumber", "supplierName")
_ZERO_MEANS_NONE = ("comparePrice", "costPrice", "weight", "supplierId", "caseSize", "categoryId")

_SELECT_SQL = (
    "SELECT p.*, coalesce(c.name, '') AS category_name FROM products p"
    " LEFT JOIN categories c ON c.id = p.category_id WHERE p.id = %s"
)
_LOCK_SQL = "SELECT id, name, stock_quantity FROM products WHERE id = %s AND archived_at IS NULL FOR UPDATE"
_ARCHIVE_SQL = "UPDATE products SET archived_at = now() WHERE id = %s AND archived_at IS NULL RETURNING id, name, sku"

_SLUG_ATTEMPTS = 10
_CONFLICTS = {
    "products_sku_key": "A product with this SKU already exists",
    "products_slug_key": "A product with this slug already exists",
    "products_barcode_key": "A product with this barcode already exists",
}


async def _product_form(request: web.Request, schema: dict[str, Field], *, partial: bool) -> dict[str, Any]:
    data = blank_as_null(await read_json(request), blanks=_BLANK_MEANS_NONE, zeros=_ZERO_MEANS_NONE)
    form = validate(schema, data, partial=partial)
    upc_a(form, "upcCode")
    if "images" in form and form["images"] is None:
        form["images"] = []
    if form.get("stock") is None and form.get("onHandQuantity") is not None:
        form["stock"] = form["onHandQuantity"]
    form.pop("onHandQuantity", None)
    return form


def _columns(form: dict[str, Any]) -> dict[str, Any]:
    return {COLUMNS[key]: value for key, value in form.items() if key in COLUMNS}


def _conflict(exc: psycopg2.errors.UniqueViolation) -> Conflict:
    """The 409 that names what is duplicated."""
    return Conflict(_CONFLICTS.get(exc.diag.constraint_name or "", "A product with these details already exists"))


async def _insert_with_free_slug(cur: Cursor, values: dict[str, Any]) -> int:
    """Insert the product under the first free slug for its name.

    Two admins creating the same name at once would pick the same slug; the loser's insert
    fails on the slug alone, so it rolls back to a savepoint and picks again (the winner's
    row is committed by then, so the next pick sees it).
    """
    names = [*values, "slug"]
    sql = (
        f"INSERT INTO products ({', '.join(names)}) VALUES ({', '.join(f'%({name})s' for name in names)}) RETURNING id"
    )
    for _ in range(_SLUG_ATTEMPTS):
        slug = await free_slug(cur, values["name"])
        await cur.execute("SAVEPOINT product_slug")
        try:
            row = await cur.fetch_one(sql, {**values, "slug": slug})
        except psycopg2.errors.UniqueViolation as exc:
            if exc.diag.constraint_name != "products_slug_key":
                raise _conflict(exc) from exc
            await cur.execute("ROLLBACK TO SAVEPOINT product_slug")
            continue
        assert row is not None
        return int(row["id"])
    raise Conflict(_CONFLICTS["products_slug_key"])


async def create_product(cur: Cursor, form: dict[str, Any], actor: CurrentUser, ip: str | None) -> Row:
    """Insert a product with a fresh slug; its initial stock enters through the ledger."""
    category_id = await resolve_category(cur, form.pop("categoryId", None), form.pop("category", None))
    stock = form.pop("stock", 0)
    product_id = await _insert_with_free_slug(cur, {**_columns(form), "category_id": category_id})
    if stock:
        await change_stock(cur, product_id, stock, "restock", actor=actor, reason="initial stock")
    await record_activity(
        cur,
        type="product",
        action="Product Created",
        description=f"Product {form['name']} ({form['sku']}) created",
        actor=actor,
        entity_type="product",
        entity_id=product_id,
        details={"sku": form["sku"], "price": str(form["price"]), "stock": stock},
        ip_address=ip,
    )
    return await _product(cur, product_id)


async def update_product(cur: Cursor, product_id: int, form: dict[str, Any], actor: CurrentUser, ip: str | None) -> Row:
    """Change only the fields sent; a new ``stock`` becomes a 'correction' in the ledger."""
    locked = await cur.fetch_one(_LOCK_SQL, (product_id,))
    if locked is None:
        raise NotFound("Product not found")
    reason = form.pop("adjustmentReason", None) or "admin edit"
    stock = form.pop("stock", None)
    values = _columns(form)
    if "categoryId" in form or "category" in form:
        values["category_id"] = await resolve_category(cur, form.get("categoryId"), form.get("category"))
    if values:
        assignments = ", ".join(f"{column} = %({column})s" for column in values)
        try:
            await cur.execute(f"UPDATE products SET {assignments} WHERE id = %(id)s", {**values, "id": product_id})
        except psycopg2.errors.UniqueViolation as exc:
            raise _conflict(exc) from exc
    changed = sorted(form)
    if stock is not None and stock != locked["stock_quantity"]:
        await change_stock(cur, product_id, stock - locked["stock_quantity"], "correction", actor=actor, reason=reason)
    await record_activity(
        cur,
        type="product",
        action="Product Updated",
        description=f"Product {form.get('name', locked['name'])} updated",
        actor=actor,
        entity_type="product",
        entity_id=product_id,
        details={
            "fields": changed,
            **({"stock": [locked["stock_quantity"], stock]} if stock is not None else {}),
        },
        ip_address=ip,
    )
    return await _product(cur, product_id)


async def archive_product(cur: Cursor, product_id: int, actor: CurrentUser, ip: str | None) -> None:
    """Hide a product from the storefront for good; its slug, SKU and history stay."""
    row = await cur.fetch_one(_ARCHIVE_SQL, (product_id,))
    if row is None:
        raise NotFound("Product not found")
    await record_activity(
        cur,
        type="product",
        action="Product Archived",
        description=f"Product {row['name']} ({row['sku']}) archived",
        actor=actor,
        entity_type="product",
        entity_id=product_id,
        severity="warning",
        ip_address=ip,
    )


async def _product(cur: Cursor, product_id: int) -> Row:
    row = await cur.fetch_one(_SELECT_SQL, (product_id,))
    assert row is not None
    return row


@routes.route("POST", "/api/admin/products", access=Access.ADMIN, summary="Create a product", body=PRODUCT_BODY)
async def post_product(request: web.Request) -> web.Response:
    form = await _product_form(request, PRODUCT_BODY, partial=False)
    async with request.app[DATABASE].transaction() as cur:
        row = await create_product(cur, form, current_user(request), client_address(request))
    forget_catalogue_here(request)
    # 200, not 201: the existing client checks for it (spec #11).
    return ok(admin_product(row))


@routes.route(
    "PUT",
    "/api/admin/products/{id}",
    access=Access.ADMIN,
    summary="Edit a product: only the fields sent change",
    body=EDIT_BODY,
)
async def put_product(request: web.Request) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    form = await _product_form(request, EDIT_BODY, partial=True)
    async with request.app[DATABASE].transaction() as cur:
        row = await update_product(cur, product_id, form, current_user(request), client_address(request))
    forget_catalogue_here(request)
    return ok(admin_product(row))


@routes.route("DELETE", "/api/admin/products/{id}", access=Access.ADMIN, summary="Archive a product")
async def delete_product(request: web.Request) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    async with request.app[DATABASE].transaction() as cur:
        await archive_product(cur, product_id, current_user(request), client_address(request))
    forget_catalogue_here(request)
    return json_response({"success": True})
