"""Suppliers (#20–#23; the spec's dead duplicate #49 is #20 with ``?include=products``).

Edits change only the fields sent (D-19: the original's full replacement deactivated a supplier
whenever the form omitted ``isActive``).  A supplier that products or purchase orders still name
cannot be deleted (409, deactivate it instead); the foreign keys make that true under races too.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jaan.db.pool import Cursor, Row
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.catalogue.forms import blank_as_null
from jaan.state import DATABASE
from jaan.web.envelope import json_response, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.validation import (
    Boolean,
    Choice,
    Field,
    Integer,
    Money,
    String,
    id_from_path,
    parse_query,
    read_json,
    validate,
)

routes = RouteTable("suppliers")

SUPPLIER_TYPES = ("wholesale_distributor", "local_vendor", "brand_manufacturer", "farm_producer", "cash_and_carry")
ORDER_METHODS = ("email", "phone", "portal", "fax")

# The admin form's camelCase fields and their columns.
COLUMNS = {
    "name": "name",
    "contactPerson": "contact_person",
    "email": "email",
    "phone": "phone",
    "address": "address",
    "paymentTerms": "payment_terms",
    "defaultLeadTimeDays": "default_lead_time_days",
    "rating": "rating",
    "notes": "notes",
    "supplierType": "supplier_type",
    "isPrimary": "is_primary",
    "isBackup": "is_backup",
    "minOrderAmount": "min_order_amount",
    "orderDays": "order_days",
    "cutoffTime": "cutoff_time",
    "deliveryDays": "delivery_days",
    "taxId": "tax_id",
    "requires1099": "requires_1099",
    "acceptsReturns": "accepts_returns",
    "creditDays": "credit_days",
    "restockingFeePercent": "restocking_fee_percent",
    "orderMethod": "order_method",
    "preferredContactTime": "preferred_contact_time",
    "isActive": "is_active",
    "onTimeDeliveryPercent": "on_time_delivery_percent",
    "avgDeliveryDelayDays": "avg_delivery_delay_days",
    "orderFulfillmentPercent": "order_fulfillment_percent",
}


def _text(max_length: int) -> String:
    return String(max_length=max_length, required=False, nullable=True)


NEW_SUPPLIER: dict[str, Field] = {
    "name": String(min_length=1, max_length=255),
    "contactPerson": _text(255),
    "email": _text(254),
    "phone": _text(50),
    "address": _text(1000),
    "paymentTerms": _text(100),
    "defaultLeadTimeDays": Integer(minimum=0, maximum=365, default=7),
    "rating": Integer(minimum=1, maximum=5, required=False, nullable=True),
    "notes": _text(5000),
    "supplierType": Choice(SUPPLIER_TYPES, required=False, nullable=True),
    "isPrimary": Boolean(default=False),
    "isBackup": Boolean(default=False),
    "minOrderAmount": Money(maximum=10**8, required=False, nullable=True),
    "orderDays": _text(255),
    "cutoffTime": String(pattern=r"([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?", required=False, nullable=True),
    "deliveryDays": _text(255),
    "taxId": _text(50),
    "requires1099": Boolean(default=False),
    "acceptsReturns": Boolean(default=True),
    "creditDays": Integer(minimum=0, maximum=365, default=30),
    "restockingFeePercent": Money(maximum=100, default=0),
    "orderMethod": Choice(ORDER_METHODS, required=False, nullable=True),
    "preferredContactTime": _text(100),
}
SUPPLIER_EDIT: dict[str, Field] = {
    **NEW_SUPPLIER,
    "isActive": Boolean(),
    "onTimeDeliveryPercent": Money(maximum=100, required=False, nullable=True),
    "avgDeliveryDelayDays": Integer(minimum=0, maximum=365),
    "orderFulfillmentPercent": Money(maximum=100),
}
# The old form sends "" for an empty input and 0 for an unset rating or minimum order.
_BLANK_MEANS_NONE = tuple(name for name, field in SUPPLIER_EDIT.items() if isinstance(field, String | Choice))
_ZERO_MEANS_NONE = ("rating", "minOrderAmount")
LIST_QUERY: dict[str, Field] = {
    "active": Boolean(required=False),
    "include": Choice(("products",), required=False),
}

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


@routes.route("GET", "/api/admin/suppliers", access=Access.ADMIN, summary="Suppliers with metrics", query=LIST_QUERY)
async def list_suppliers(request: web.Request) -> web.Response:
    query = parse_query(request, LIST_QUERY)
    sql = _LIST_SQL.format(products=_PRODUCTS_SQL if query.get("include") == "products" else "")
    return ok(await request.app[DATABASE].fetch_all(sql, {"active": query.get("active")}))


async def _form(request: web.Request, schema: dict[str, Field], *, partial: bool) -> dict[str, Any]:
    data = blank_as_null(await read_json(request), blanks=_BLANK_MEANS_NONE, zeros=_ZERO_MEANS_NONE)
    return {COLUMNS[name]: value for name, value in validate(schema, data, partial=partial).items()}


async def _record(cur: Cursor, actor: CurrentUser, supplier: Row, action: str, **details: Any) -> None:
    await record_activity(
        cur,
        type="admin",
        action=action,
        actor=actor,
        entity_type="supplier",
        entity_id=supplier["id"],
        description=f"{action}: {supplier['name']}",
        details=details or None,
    )


@routes.route("POST", "/api/admin/suppliers", access=Access.ADMIN, summary="Add a supplier", body=NEW_SUPPLIER)
async def create_supplier(request: web.Request) -> web.Response:
    values = await _form(request, NEW_SUPPLIER, partial=False)
    async with request.app[DATABASE].transaction() as cur:
        supplier = await cur.fetch_one(
            f"INSERT INTO suppliers ({', '.join(values)}) VALUES ({', '.join(f'%({c})s' for c in values)}) RETURNING *",
            values,
        )
        assert supplier is not None
        await _record(cur, current_user(request), supplier, "Supplier Created")
    return ok(supplier)


@routes.route(
    "PUT",
    "/api/admin/suppliers/{id}",
    access=Access.ADMIN,
    summary="Edit a supplier (only the fields sent change)",
    body=SUPPLIER_EDIT,
)
async def edit_supplier(request: web.Request) -> web.Response:
    values = await _form(request, SUPPLIER_EDIT, partial=True)
    supplier_id = id_from_path(request, "Supplier not found")
    async with request.app[DATABASE].transaction() as cur:
        if values:
            assignments = ", ".join(f"{column} = %({column})s" for column in values)
            supplier = await cur.fetch_one(
                f"UPDATE suppliers SET {assignments} WHERE id = %(id_)s RETURNING *", {**values, "id_": supplier_id}
            )
        else:
            supplier = await cur.fetch_one("SELECT * FROM suppliers WHERE id = %s", (supplier_id,))
        if supplier is None:
            raise NotFound("Supplier not found")
        if values:
            await _record(cur, current_user(request), supplier, "Supplier Updated", changed=sorted(values))
    return ok(supplier)


@routes.route("DELETE", "/api/admin/suppliers/{id}", access=Access.ADMIN, summary="Delete an unreferenced supplier")
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
        await _record(cur, current_user(request), supplier, "Supplier Deleted")
    return json_response({"success": True})
