"""Admin product writes: create (#11), edit with PATCH semantics (#12), archive (#13).

Each is one transaction: the product row, any stock change through the ledger, and the
activity row commit together or not at all.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import psycopg2.errors
from aiohttp import web
from pydantic import Field

from jaan.db.pool import Cursor, Row
from jaan.db.sql import assignments, insert_sql
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.catalogue.categories import resolve_category
from jaan.shop.catalogue.forms import UpcA, Zero
from jaan.shop.catalogue.products import admin_product
from jaan.shop.catalogue.slugs import free_slug
from jaan.shop.freshness import forget_catalogue_here
from jaan.shop.inventory.ledger import change_stock
from jaan.state import DATABASE
from jaan.web.answers import Done, Envelope, Shape
from jaan.web.client_address import client_address
from jaan.web.envelope import json_response, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.fields import MAX_INT, Blank, Date, Days, Id, Money, Text, Weight
from jaan.web.input import FormBody, id_from_path, partial

routes = RouteTable("catalogue admin")

TaxCategory = Literal["grocery", "prepared_food", "beverage", "alcohol"]
Count = Annotated[int, Field(ge=0, le=MAX_INT)]
# What a form sends that is not a column of products.
_NOT_COLUMNS = frozenset({"category_id", "category", "stock", "on_hand_quantity", "adjustment_reason"})


class NewProduct(FormBody):
    """A product as the admin form sends it; its initial stock enters through the ledger."""

    # What the old client sends for "none": "" for blanks, 0 for unset numbers (0 is not a
    # meaningful compare price, weight, supplier or case size).
    blanks = ("category", "upcCode", "expiryDate", "batchNumber", "lotNumber", "supplierName")
    zeros = ("comparePrice", "costPrice", "weight", "supplierId", "caseSize", "categoryId")

    name: Annotated[str, Text(1, 200)]
    sku: Annotated[str, Text(1, 100)]
    price: Money
    description: Annotated[str, Text(max_length=10_000)]
    unit: Annotated[str, Text(1, 20)]
    short_description: Annotated[str, Text(max_length=500)] = ""
    category_id: Id | Zero | Blank | None = None
    category: Annotated[str, Text(max_length=200)] | None = None  # a category name (old client)
    compare_price: Money | Blank | None = None
    cost_price: Money | Blank | None = None
    stock: Count = 0
    on_hand_quantity: Count | None = None  # the old form's stock field
    weight: Weight | Zero | Blank | None = None
    is_featured: bool = False
    is_new: bool = False
    images: Annotated[list[Annotated[str, Text(1, 2000)]], Field(max_length=20)] | None = Field(default_factory=list)
    low_stock_threshold: Count = 10
    allow_negative_stock: bool = False
    upc_code: UpcA | Blank | None = None
    is_taxable: bool = False
    tax_category: TaxCategory = "grocery"
    expiry_date: Date | Blank | None = None
    batch_number: Annotated[str, Text(max_length=50)] | None = None
    lot_number: Annotated[str, Text(max_length=50)] | None = None
    expiry_alert_days: Days = 7
    supplier_name: Annotated[str, Text(max_length=255)] | None = None
    supplier_id: Id | Zero | Blank | None = None
    case_size: Id | Zero | Blank | None = None
    lead_time_days: Days | None = None
    has_variants: bool = False


class ProductFields(NewProduct):
    adjustment_reason: Annotated[str, Text(max_length=100)] | None = None


ProductChanges = partial(ProductFields, "ProductChanges")


class AdminProduct(Shape):
    id: int
    name: str
    slug: str
    sku: str
    price: float
    stock_quantity: int
    on_hand_quantity: int
    images: list[str]


class OneAdminProduct(Envelope[AdminProduct]):
    """The product, every column (plus the old form's on_hand_quantity)."""


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


def _product_form(body: NewProduct, *, sent_only: bool) -> dict[str, Any]:
    """The form by column name (only what was sent, for an edit)."""
    form = body.model_dump(exclude_unset=sent_only)
    if "images" in form and form["images"] is None:
        form["images"] = []
    if form.get("stock") is None and form.get("on_hand_quantity") is not None:
        form["stock"] = form["on_hand_quantity"]
    form.pop("on_hand_quantity", None)
    return form


def _columns(form: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in form.items() if key not in _NOT_COLUMNS}


def _conflict(exc: psycopg2.errors.UniqueViolation) -> Conflict:
    """The 409 that names what is duplicated."""
    return Conflict(_CONFLICTS.get(exc.diag.constraint_name or "", "A product with these details already exists"))


async def _insert_with_free_slug(cur: Cursor, values: dict[str, Any]) -> int:
    """Insert the product under the first free slug for its name.

    Two admins creating the same name at once would pick the same slug; the loser's insert
    fails on the slug alone, so it rolls back to a savepoint and picks again (the winner's
    row is committed by then, so the next pick sees it).
    """
    sql = insert_sql("products", [*values, "slug"], "id")
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
    category_id = await resolve_category(cur, form.pop("category_id", None), form.pop("category", None))
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
    reason = form.pop("adjustment_reason", None) or "admin edit"
    stock = form.pop("stock", None)
    values = _columns(form)
    if "category_id" in form or "category" in form:
        values["category_id"] = await resolve_category(cur, form.get("category_id"), form.get("category"))
    if values:
        try:
            await cur.execute(
                f"UPDATE products SET {assignments(values)} WHERE id = %(id)s", {**values, "id": product_id}
            )
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


@routes.route(
    "POST",
    "/api/admin/products",
    access=Access.ADMIN,
    summary="Create a product",
    body=NewProduct,
    responses={200: OneAdminProduct},
    errors=(409,),
)
async def post_product(request: web.Request, body: NewProduct) -> web.Response:
    form = _product_form(body, sent_only=False)
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
    body=ProductChanges,
    responses={200: OneAdminProduct},
    errors=(409,),
)
async def put_product(request: web.Request, body: ProductFields) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    form = _product_form(body, sent_only=True)
    async with request.app[DATABASE].transaction() as cur:
        row = await update_product(cur, product_id, form, current_user(request), client_address(request))
    forget_catalogue_here(request)
    return ok(admin_product(row))


@routes.route(
    "DELETE", "/api/admin/products/{id}", access=Access.ADMIN, summary="Archive a product", responses={200: Done}
)
async def delete_product(request: web.Request) -> web.Response:
    product_id = id_from_path(request, "Product not found")
    async with request.app[DATABASE].transaction() as cur:
        await archive_product(cur, product_id, current_user(request), client_address(request))
    forget_catalogue_here(request)
    return json_response({"success": True})
