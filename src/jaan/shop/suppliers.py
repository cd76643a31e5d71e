"""Suppliers (#20–#23; the spec's dead duplicate #49 is #20 with ``?include=products``).

Edits change only the fields sent (D-19: the original's full replacement deactivated a supplier
whenever the form omitted ``isActive``).  A supplier that products or purchase orders still name
cannot be deleted (409, deactivate it instead); the foreign keys make that true under races too.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field

from jaan.db.sql import assignments, insert_sql
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.state import DATABASE
from jaan.web.answers import Done, Envelope, Shape
from jaan.web.envelope import json_response, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.fields import Blank, Money, Percentage, Text
from jaan.web.input import FormBody, Query, id_from_path, partial

routes = RouteTable("suppliers")

SupplierType = Literal["wholesale_distributor", "local_vendor", "brand_manufacturer", "farm_producer", "cash_and_carry"]
OrderMethod = Literal["email", "phone", "portal", "fax"]
LeadDays = Annotated[int, Field(ge=0, le=365)]
Note = Annotated[str, Text(max_length=255)] | None
_TIME = r"^([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?$"


class NewSupplier(FormBody):
    """A supplier as the admin form sends it."""

    blanks = (
        "contactPerson", "email", "phone", "address", "paymentTerms", "notes", "supplierType", "orderDays",
        "cutoffTime", "deliveryDays", "taxId", "orderMethod", "preferredContactTime",
    )  # fmt: skip
    zeros = ("rating", "minOrderAmount")

    name: Annotated[str, Text(1, 255)]
    contact_person: Note = None
    email: Annotated[str, Text(max_length=254)] | None = None
    phone: Annotated[str, Text(max_length=50)] | None = None
    address: Annotated[str, Text(max_length=1000)] | None = None
    payment_terms: Annotated[str, Text(max_length=100)] | None = None
    default_lead_time_days: LeadDays = 7
    rating: Annotated[int, Field(ge=0, le=5, description="1-5; 0 means none")] | Blank | None = None
    notes: Annotated[str, Text(max_length=5000)] | None = None
    supplier_type: SupplierType | Blank | None = None
    is_primary: bool = False
    is_backup: bool = False
    min_order_amount: Money | Blank | None = None
    order_days: Note = None
    cutoff_time: Annotated[str, Text(max_length=8, pattern=_TIME)] | Blank | None = None
    delivery_days: Note = None
    tax_id: Annotated[str, Text(max_length=50)] | None = None
    requires_1099: bool = False
    accepts_returns: bool = True
    credit_days: LeadDays = 30
    restocking_fee_percent: Percentage = Decimal(0)
    order_method: OrderMethod | Blank | None = None
    preferred_contact_time: Annotated[str, Text(max_length=100)] | None = None


class SupplierFields(NewSupplier):
    is_active: bool = True
    on_time_delivery_percent: Percentage | None = None
    avg_delivery_delay_days: LeadDays = 0
    order_fulfillment_percent: Percentage = Decimal(100)


SupplierChanges = partial(SupplierFields, "SupplierChanges")


class SupplierQuery(Query):
    active: bool | None = None
    include: Literal["products"] | None = None


class Supplier(Shape):
    id: int
    name: str
    is_active: bool
    created_at: dt.datetime


class ListedSupplier(Supplier):
    linked_products_count: int
    avg_supplier_cost: float
    avg_margin_percent: float


class SupplierList(Envelope[list[ListedSupplier]]):
    """Suppliers by name, with their metrics."""


class OneSupplier(Envelope[Supplier]):
    """The supplier."""


_LIST_SQL = """
SELECT s.*, m.linked_products_count, m.avg_supplier_cost, m.avg_margin_percent{products}
FROM suppliers s
LEFT JOIN LATERAL (
    SELECT count(*)::int AS linked_products_count,
           coalesce(round(avg(p.cost_price), 2), 0) AS avg_supplier_cost,
           coalesce(round((avg(p.price) - avg(p.cost_price)) / nullif(avg(p.price), 0) * 100, 2), 0)
               AS avg_margin_percent
    FROM products p WHERE p.supplier_id = s.id AND p.archived_at IS NULL
) m ON true
WHERE %(active)s::boolean IS NULL OR s.is_active = %(active)s
ORDER BY s.name, s.id
"""
# The duplicate handler's product list (#49), offered as ?include=products.
_PRODUCTS_SQL = """,
    (SELECT coalesce(json_agg(json_build_object('id', p.id, 'name', p.name, 'sku', p.sku,
        'stock_quantity', p.stock_quantity, 'price', p.price, 'cost_price', p.cost_price,
        'low_stock_threshold', p.low_stock_threshold, 'barcode', p.barcode) ORDER BY p.name, p.id), '[]')
     FROM products p WHERE p.supplier_id = s.id AND p.archived_at IS NULL) AS products"""


@routes.route(
    "GET",
    "/api/admin/suppliers",
    access=Access.ADMIN,
    summary="Suppliers with metrics",
    query=SupplierQuery,
    responses={200: SupplierList},
)
async def list_suppliers(request: web.Request, query: SupplierQuery) -> web.Response:
    sql = _LIST_SQL.format(products=_PRODUCTS_SQL if query.include == "products" else "")
    return ok(await request.app[DATABASE].fetch_all(sql, {"active": query.active}))


@routes.route(
    "POST",
    "/api/admin/suppliers",
    access=Access.ADMIN,
    summary="Add a supplier",
    body=NewSupplier,
    responses={200: OneSupplier},
    errors=(409,),
)
async def create_supplier(request: web.Request, body: NewSupplier) -> web.Response:
    values = body.model_dump()
    async with request.app[DATABASE].transaction() as cur:
        supplier = await cur.fetch_one(insert_sql("suppliers", values), values)
        assert supplier is not None
        await record_activity(
            cur,
            type="admin",
            action="Supplier Created",
            actor=current_user(request),
            entity_type="supplier",
            entity_id=supplier["id"],
            description=f"Supplier Created: {supplier['name']}",
        )
    return ok(supplier)


@routes.route(
    "PUT",
    "/api/admin/suppliers/{id}",
    access=Access.ADMIN,
    summary="Edit a supplier (only the fields sent change)",
    body=SupplierChanges,
    responses={200: OneSupplier},
    errors=(409,),
)
async def edit_supplier(request: web.Request, body: SupplierFields) -> web.Response:
    values = body.model_dump(exclude_unset=True)
    supplier_id = id_from_path(request, "Supplier not found")
    async with request.app[DATABASE].transaction() as cur:
        if values:
            supplier = await cur.fetch_one(
                f"UPDATE suppliers SET {assignments(values)} WHERE id = %(id_)s RETURNING *",
                {**values, "id_": supplier_id},
            )
        else:
            supplier = await cur.fetch_one("SELECT * FROM suppliers WHERE id = %s", (supplier_id,))
        if supplier is None:
            raise NotFound("Supplier not found")
        if values:
            await record_activity(
                cur,
                type="admin",
                action="Supplier Updated",
                actor=current_user(request),
                entity_type="supplier",
                entity_id=supplier["id"],
                description=f"Supplier Updated: {supplier['name']}",
                details={"changed": sorted(values)},
            )
    return ok(supplier)


@routes.route(
    "DELETE",
    "/api/admin/suppliers/{id}",
    access=Access.ADMIN,
    summary="Delete an unreferenced supplier",
    responses={200: Done},
    errors=(409,),
)
async def delete_supplier(request: web.Request) -> web.Response:
    supplier_id = id_from_path(request, "Supplier not found")
    async with request.app[DATABASE].transaction() as cur:
        supplier = await cur.fetch_one("SELECT id, name FROM suppliers WHERE id = %s FOR UPDATE", (supplier_id,))
        if supplier is None:
            raise NotFound("Supplier not found")
        uses = await cur.fetch_one(
            "SELECT (SELECT count(*) FROM products WHERE supplier_id = %(id)s) AS products,"
            " (SELECT count(*) FROM purchase_orders WHERE supplier_id = %(id)s) AS purchase_orders",
            {"id": supplier_id},
        )
        assert uses is not None
        if uses["products"] or uses["purchase_orders"]:
            raise Conflict(
                f"Supplier is referenced by {uses['products']} products and {uses['purchase_orders']} purchase"
                " orders; deactivate it (isActive: false) instead"
            )
        await cur.execute("DELETE FROM suppliers WHERE id = %s", (supplier_id,))
        await record_activity(
            cur,
            type="admin",
            action="Supplier Deleted",
            actor=current_user(request),
            entity_type="supplier",
            entity_id=supplier["id"],
            description=f"Supplier Deleted: {supplier['name']}",
        )
    return json_response({"success": True})
