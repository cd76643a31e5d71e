"""Purchasing routes: low stock by supplier (#50) and purchase orders (#51–#55)."""

from __future__ import annotations

from decimal import Decimal

from aiohttp import web

from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.purchasing.lifecycle import change_status, receive_items
from jaan.shop.purchasing.low_stock import low_stock_by_supplier
from jaan.shop.purchasing.orders import (
    LIST_SQL,
    PAYMENT_STATUSES,
    STATUSES,
    create_purchase_order,
    list_conditions,
    purchase_order,
)
from jaan.state import DATABASE
from jaan.web.envelope import ok
from jaan.web.validation import (
    Choice,
    Date,
    Field,
    Integer,
    ListOf,
    Money,
    Object,
    String,
    id_from_path,
    page_of,
    parse_body,
    parse_query,
)

routes = RouteTable("purchasing")

NEW_PURCHASE_ORDER: dict[str, Field] = {
    "supplier_id": Integer(minimum=1),
    "expected_delivery_date": Date(required=False, nullable=True),
    "items": ListOf(
        Object(
            {
                "product_id": Integer(minimum=1),
                "quantity": Integer(minimum=1, maximum=1_000_000),
                "unit_price": Money(minimum=Decimal("0.01"), maximum=1_000_000),
            }
        ),
        min_items=1,
        max_items=200,
    ),
    "shipping_cost": Money(maximum=1_000_000, default=0),
    "notes": String(max_length=5000, default=""),
}
LIST_QUERY: dict[str, Field] = {
    "supplier_id": Integer(minimum=1, required=False),
    "status": Choice(("all", *STATUSES), default="all"),
    "page": Integer(minimum=1, maximum=1_000_000, default=1),
    "per_page": Integer(minimum=1, maximum=100, default=20),
}
STATUS_CHANGE: dict[str, Field] = {
    "status": Choice(STATUSES),
    "payment_status": Choice(PAYMENT_STATUSES, required=False),
    "actual_delivery_date": Date(required=False, nullable=True),
}
RECEIPT: dict[str, Field] = {
    "items": ListOf(
        Object({"item_id": Integer(minimum=1), "received_quantity": Integer(minimum=1, maximum=1_000_000)}),
        min_items=1,
        max_items=200,
    )
}


def _po_id(request: web.Request) -> int:
    return id_from_path(request, "Purchase order not found")


@routes.route(
    "GET", "/api/admin/low-stock-by-supplier", access=Access.ADMIN, summary="Low-stock products grouped by supplier"
)
async def low_stock(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        return ok(await low_stock_by_supplier(cur))


@routes.route(
    "POST",
    "/api/admin/purchase-orders",
    access=Access.ADMIN,
    summary="Create a draft purchase order (totals computed here)",
    body=NEW_PURCHASE_ORDER,
)
async def create(request: web.Request) -> web.Response:
    form = await parse_body(request, NEW_PURCHASE_ORDER)
    async with request.app[DATABASE].transaction() as cur:
        po = await create_purchase_order(cur, form, current_user(request))
    return ok(po, status=201)


@routes.route(
    "GET",
    "/api/admin/purchase-orders",
    access=Access.ADMIN,
    summary="Purchase orders, newest first (data is a bare array; paging keys beside it)",
    query=LIST_QUERY,
)
async def list_purchase_orders(request: web.Request) -> web.Response:
    query = parse_query(request, LIST_QUERY)
    page = page_of(request)
    where, params = list_conditions(query)
    async with request.app[DATABASE].cursor() as cur:
        rows = await cur.fetch_all(LIST_SQL.format(where=where), (*params, page.per_page, page.offset))
        total = await cur.fetch_value(f"SELECT count(*) FROM purchase_orders po WHERE {where}", params)
    paging = page.result(rows, total)
    return ok(paging.pop("data"), **paging)


@routes.route("GET", "/api/admin/purchase-orders/{id}", access=Access.ADMIN, summary="One purchase order with lines")
async def get_purchase_order(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        return ok(await purchase_order(cur, _po_id(request)))


@routes.route(
    "PUT",
    "/api/admin/purchase-orders/{id}/status",
    access=Access.ADMIN,
    summary="Move a purchase order along its lifecycle",
    body=STATUS_CHANGE,
)
async def set_status(request: web.Request) -> web.Response:
    change = await parse_body(request, STATUS_CHANGE)
    po_id = _po_id(request)
    async with request.app[DATABASE].transaction() as cur:
        return ok(await change_status(cur, po_id, change, current_user(request)))


@routes.route(
    "POST",
    "/api/admin/purchase-orders/{id}/receive-items",
    access=Access.ADMIN,
    summary="Receive quantities (received now) into stock",
    body=RECEIPT,
)
async def receive(request: web.Request) -> web.Response:
    receipt = await parse_body(request, RECEIPT)
    po_id = _po_id(request)
    async with request.app[DATABASE].transaction() as cur:
        return ok(await receive_items(cur, po_id, receipt["items"], current_user(request)))
