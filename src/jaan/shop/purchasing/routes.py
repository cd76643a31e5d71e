"""Purchasing routes: low stock by supplier (#50) and purchase orders (#51–#55)."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal, get_args

from aiohttp import web
from pydantic import Field, model_validator

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
from jaan.web.answers import AnyObject, Envelope, Shape
from jaan.web.envelope import ok
from jaan.web.fields import Date, Id, Money, PositiveMoney, Text, money_fits
from jaan.web.input import Body, id_from_path
from jaan.web.paging import Paging, fetch_page

routes = RouteTable("purchasing")

PurchaseStatus = Literal["draft", "pending", "confirmed", "shipped", "delivered", "cancelled"]
PaymentStatus = Literal["unpaid", "partial", "paid"]
assert get_args(PurchaseStatus) == STATUSES and get_args(PaymentStatus) == PAYMENT_STATUSES
Bought = Annotated[int, Field(ge=1, le=1_000_000)]


class PurchaseLine(Body):
    product_id: Id
    quantity: Bought
    unit_price: PositiveMoney


class NewPurchaseOrder(Body):
    """A draft purchase order; its totals are computed here."""

    supplier_id: Id
    expected_delivery_date: Date | None = None
    items: Annotated[list[PurchaseLine], Field(min_length=1, max_length=200)]
    shipping_cost: Money = Decimal(0)
    notes: Annotated[str, Text(max_length=5000)] = ""

    @model_validator(mode="after")
    def _total_fits(self) -> NewPurchaseOrder:
        money_fits(sum(line.quantity * line.unit_price for line in self.items) + self.shipping_cost, "items")
        return self


class PurchaseOrderQuery(Paging):
    supplier_id: Id | None = None
    status: Literal["all", PurchaseStatus] = "all"


class PurchaseStatusChange(Body):
    status: PurchaseStatus
    payment_status: PaymentStatus | None = None
    actual_delivery_date: Date | None = None


class ReceivedLine(Body):
    item_id: Id
    received_quantity: Bought


class Receipt(Body):
    """What arrived now."""

    items: Annotated[list[ReceivedLine], Field(min_length=1, max_length=200)]


class PurchaseOrder(Shape):
    id: int
    po_number: str
    supplier_id: int
    status: PurchaseStatus
    subtotal: float
    total_amount: float


class PurchaseOrderLine(Shape):
    id: int
    product_id: int
    quantity: int
    received_quantity: int


class PurchaseOrderWithLines(PurchaseOrder):
    items: list[PurchaseOrderLine]


class PurchaseOrderList(Envelope[list[PurchaseOrder]]):
    """Purchase orders, newest first: a bare array, the paging keys beside it."""

    total: int
    page: int
    per_page: int
    total_pages: int


class OnePurchaseOrder(Envelope[PurchaseOrderWithLines]):
    """The purchase order with its lines."""


class LowStock(Envelope[list[AnyObject]]):
    """Each active supplier's products at or below their threshold."""


def _po_id(request: web.Request) -> int:
    return id_from_path(request, "Purchase order not found")


@routes.route(
    "GET",
    "/api/admin/low-stock-by-supplier",
    access=Access.ADMIN,
    summary="Low-stock products grouped by supplier",
    responses={200: LowStock},
)
async def low_stock(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        return ok(await low_stock_by_supplier(cur))


@routes.route(
    "POST",
    "/api/admin/purchase-orders",
    access=Access.ADMIN,
    summary="Create a draft purchase order (totals computed here)",
    body=NewPurchaseOrder,
    responses={201: OnePurchaseOrder},
)
async def create(request: web.Request, body: NewPurchaseOrder) -> web.Response:
    async with request.app[DATABASE].transaction() as cur:
        po = await create_purchase_order(cur, body.model_dump(), current_user(request))
    return ok(po, status=201)


@routes.route(
    "GET",
    "/api/admin/purchase-orders",
    access=Access.ADMIN,
    summary="Purchase orders, newest first (data is a bare array; paging keys beside it)",
    query=PurchaseOrderQuery,
    responses={200: PurchaseOrderList},
)
async def list_purchase_orders(request: web.Request, query: PurchaseOrderQuery) -> web.Response:
    where, params = list_conditions(query.model_dump())
    async with request.app[DATABASE].cursor() as cur:
        rows, total = await fetch_page(
            cur, query, LIST_SQL.format(where=where), f"SELECT count(*) FROM purchase_orders po WHERE {where}", params
        )
    paging = query.result(rows, total)
    return ok(paging.pop("data"), **paging)


@routes.route(
    "GET",
    "/api/admin/purchase-orders/{id}",
    access=Access.ADMIN,
    summary="One purchase order with lines",
    responses={200: OnePurchaseOrder},
)
async def get_purchase_order(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        return ok(await purchase_order(cur, _po_id(request)))


@routes.route(
    "PUT",
    "/api/admin/purchase-orders/{id}/status",
    access=Access.ADMIN,
    summary="Move a purchase order along its lifecycle",
    body=PurchaseStatusChange,
    responses={200: OnePurchaseOrder},
    errors=(409,),
)
async def set_status(request: web.Request, body: PurchaseStatusChange) -> web.Response:
    po_id = _po_id(request)
    change = body.model_dump(exclude_unset=True)
    async with request.app[DATABASE].transaction() as cur:
        return ok(await change_status(cur, po_id, change, current_user(request)))


@routes.route(
    "POST",
    "/api/admin/purchase-orders/{id}/receive-items",
    access=Access.ADMIN,
    summary="Receive quantities (received now) into stock",
    body=Receipt,
    responses={200: OnePurchaseOrder},
    errors=(409,),
)
async def receive(request: web.Request, body: Receipt) -> web.Response:
    po_id = _po_id(request)
    items = [line.model_dump() for line in body.items]
    async with request.app[DATABASE].transaction() as cur:
        return ok(await receive_items(cur, po_id, items, current_user(request)))
