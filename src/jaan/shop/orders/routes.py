"""Order routes: checkout (#24), the order lists (#25), one order (#26), the admin's status change (#28)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal, get_args

from aiohttp import web
from pydantic import Field

from jaan.metrics import IDEMPOTENT_REPLAYS, ORDERS_PLACED, ORDERS_REFUSED_FOR_STOCK
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.dashboard.headline import HEADLINE_FIGURES
from jaan.shop.freshness import table_tag
from jaan.shop.inventory.ledger import InsufficientStock
from jaan.shop.orders import idempotency
from jaan.shop.orders.checkout import place_order
from jaan.shop.orders.status import STATUSES, change_order_status
from jaan.state import DATABASE
from jaan.web.answers import Envelope, Page, Shape
from jaan.web.client_address import client_address
from jaan.web.envelope import dumps, ok
from jaan.web.errors import NotFound
from jaan.web.fields import Email, Id, Quantity, Text
from jaan.web.input import Body, id_from_path
from jaan.web.paging import Paging, fetch_page
from jaan.web.response_cache import RESPONSE_CACHE, cached_response

routes = RouteTable("orders")

OrderStatus = Literal["pending", "processing", "shipped", "delivered", "cancelled"]
assert get_args(OrderStatus) == STATUSES


class Address(Body):
    street: Annotated[str, Text(1, 200)]
    street2: Annotated[str, Text(max_length=200)] | None = None
    city: Annotated[str, Text(1, 100)]
    state: Annotated[str, Text(1, 100)]
    zip: Annotated[str, Text(1, 20)]
    country: Annotated[str, Text(1, 100)] = "United States"


class CartLine(Body):
    """Only which product and how many: names, prices and totals come from the database."""

    product_id: Id
    quantity: Quantity


class Cart(Body):
    """The checkout: who orders, where it goes, and the lines."""

    customer_name: Annotated[str, Text(1, 200)]
    customer_email: Email
    customer_phone: Annotated[str, Text(max_length=40)] | None = None
    shipping_address: Address
    billing_address: Address | None = None
    items: Annotated[list[CartLine], Field(min_length=1, max_length=100)]
    payment_method: Annotated[str, Text(1, 50)]
    notes: Annotated[str, Text(max_length=2000)] | None = None


class OrderQuery(Paging):
    status: Literal["all", OrderStatus] = "all"


class StatusChange(Body):
    status: OrderStatus
    tracking_number: Annotated[str, Text(max_length=100)] | None = None


class OrderLine(Shape):
    id: int
    product_id: int | None
    product_name: str
    quantity: int
    unit_price: float
    total_price: float


class OrderTotals(Shape):
    """An order's number, status and money."""

    id: int
    order_number: str
    status: OrderStatus
    subtotal: float
    tax: float
    shipping_fee: float
    total: float


class Order(OrderTotals):
    """An order as its customer and the admins see it."""

    created_at: dt.datetime


class OrderWithLines(Order):
    items: list[OrderLine]


class PlacedOrder(Envelope[OrderTotals]):
    """The order placed (or, for a repeated Idempotency-Key, the first answer again)."""


class OrderList(Envelope[Page[Order]]):
    """One page of orders, newest first."""


class OneOrder(Envelope[OrderWithLines]):
    """One order with its lines."""


class ChangedOrder(Envelope[Order]):
    """The order after the change."""


@routes.route(
    "POST",
    "/api/orders",
    access=Access.USER,
    summary="Check out: place an order",
    body=Cart,
    responses={200: PlacedOrder},
    errors=(409, 422),
)
async def create_order(request: web.Request, body: Cart) -> web.Response:
    cart = body.model_dump()
    key = idempotency.valid_key(request.headers.get(idempotency.HEADER))
    try:
        placed = await place_order(request.app[DATABASE], current_user(request), cart, key, client_address(request))
    except InsufficientStock:
        ORDERS_REFUSED_FOR_STOCK.inc()
        raise
    (IDEMPOTENT_REPLAYS if placed.replayed else ORDERS_PLACED).inc()
    # Other workers hear of it by NOTIFY; this one forgets at once, so the customer's next read sees it.
    request.app[RESPONSE_CACHE].drop(table_tag("orders"))
    return web.Response(body=placed.body, status=placed.status, content_type="application/json")


@routes.route(
    "GET",
    "/api/orders",
    access=Access.USER,
    summary="Orders: a customer's own, or all for an admin",
    query=OrderQuery,
    responses={200: OrderList},
)
async def list_orders(request: web.Request, query: OrderQuery) -> web.Response:
    user = current_user(request)
    conditions, params = [], []
    if not user.is_admin:
        conditions.append("user_id = %s")
        params.append(user.id)
    if query.status != "all":
        conditions.append("status = %s")
        params.append(query.status)
    where = " AND ".join(conditions) or "true"

    async def build() -> tuple[bytes, list[str]]:
        async with request.app[DATABASE].cursor() as cur:
            rows, total = await fetch_page(
                cur,
                query,
                f"SELECT * FROM orders WHERE {where} ORDER BY created_at DESC, id DESC",
                f"SELECT count(*) FROM orders WHERE {where}",
                params,
            )
        return dumps({"success": True, "data": query.result(rows, total)}), [table_tag("orders")]

    key = ("orders", "all" if user.is_admin else user.id, query.status, query.page, query.per_page)
    return cached_response(request, await request.app[RESPONSE_CACHE].fetch(key, build), private=True)


@routes.route(
    "GET", "/api/orders/{id}", access=Access.USER, summary="One order with its lines", responses={200: OneOrder}
)
async def get_order(request: web.Request) -> web.Response:
    user = current_user(request)
    database = request.app[DATABASE]
    order = await database.fetch_one("SELECT * FROM orders WHERE id = %s", (id_from_path(request, "Order not found"),))
    if order is None or (not user.is_admin and order["user_id"] != user.id):
        raise NotFound("Order not found")  # another customer's order does not exist for you
    items: list[dict[str, Any]] = await database.fetch_all(
        "SELECT * FROM order_items WHERE order_id = %s ORDER BY id", (order["id"],)
    )
    return ok({**order, "items": items})


@routes.route(
    "PUT",
    "/api/admin/orders/{id}/status",
    access=Access.ADMIN,
    summary="Move an order along its lifecycle",
    body=StatusChange,
    responses={200: ChangedOrder},
    errors=(409,),
)
async def set_order_status(request: web.Request, body: StatusChange) -> web.Response:
    order = await change_order_status(
        request.app[DATABASE],
        id_from_path(request, "Order not found"),
        body.status,
        body.tracking_number,
        current_user(request),
    )
    request.app[RESPONSE_CACHE].drop(table_tag("orders"))
    request.app[RESPONSE_CACHE].drop(HEADLINE_FIGURES)
    return ok(order)
