"""Order routes: checkout (#24), the order lists (#25), one order (#26), the admin's status change (#28)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.freshness import table_tag
from jaan.shop.orders import idempotency
from jaan.shop.orders.checkout import place_order
from jaan.shop.orders.status import STATUSES, change_order_status
from jaan.state import DATABASE
from jaan.web.envelope import dumps, json_response, ok
from jaan.web.errors import NotFound
from jaan.web.response_cache import RESPONSE_CACHE, cached_response
from jaan.web.validation import (
    Choice,
    Email,
    Integer,
    ListOf,
    Object,
    String,
    id_from_path,
    page_of,
    parse_body,
    parse_query,
    read_json,
    validate,
)

routes = RouteTable("orders")

ADDRESS = {
    "street": String(min_length=1, max_length=200),
    "street2": String(max_length=200, required=False, nullable=True),
    "city": String(min_length=1, max_length=100),
    "state": String(min_length=1, max_length=100),
    "zip": String(min_length=1, max_length=20),
    "country": String(min_length=1, max_length=100, default="United States"),
}
CART = {
    "customer_name": String(min_length=1, max_length=200),
    "customer_email": Email(),
    "customer_phone": String(max_length=40, required=False, nullable=True),
    "shipping_address": Object(ADDRESS),
    "billing_address": Object(ADDRESS, required=False, nullable=True),
    # Only which product and how many: names, prices and totals come from the database.
    "items": ListOf(
        Object({"product_id": Integer(minimum=1), "quantity": Integer(minimum=1, maximum=10_000)}),
        min_items=1,
        max_items=100,
    ),
    "payment_method": String(min_length=1, max_length=50),
    "notes": String(max_length=2000, required=False, nullable=True),
}
LIST_QUERY = {
    "status": Choice(("all", *STATUSES), default="all"),
    "page": Integer(minimum=1, maximum=1_000_000, default=1),
    "per_page": Integer(minimum=1, maximum=100, default=20),
}
STATUS_CHANGE = {
    "status": Choice(STATUSES),
    "tracking_number": String(max_length=100, required=False, nullable=True),
}


@routes.route("POST", "/api/orders", access=Access.USER, summary="Check out: place an order", body=CART)
async def create_order(request: web.Request) -> web.Response:
    cart = validate(CART, await read_json(request))
    key = idempotency.valid_key(request.headers.get(idempotency.HEADER))
    placed = await place_order(request.app[DATABASE], current_user(request), cart, key, request.remote)
    # Other workers hear of it by NOTIFY; this one forgets at once, so the customer's next read sees it.
    request.app[RESPONSE_CACHE].drop(table_tag("orders"))
    return json_response(placed.body, status=placed.status)


@routes.route(
    "GET",
    "/api/orders",
    access=Access.USER,
    summary="Orders: a customer's own, or all for an admin",
    query=LIST_QUERY,
)
async def list_orders(request: web.Request) -> web.Response:
    query = parse_query(request, LIST_QUERY)
    page = page_of(request)
    user = current_user(request)
    conditions, params = [], []
    if not user.is_admin:
        conditions.append("user_id = %s")
        params.append(user.id)
    if query["status"] != "all":
        conditions.append("status = %s")
        params.append(query["status"])
    where = " AND ".join(conditions) or "true"

    async def build() -> tuple[bytes, list[str]]:
        async with request.app[DATABASE].cursor() as cur:
            rows = await cur.fetch_all(
                f"SELECT * FROM orders WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
                (*params, page.per_page, page.offset),
            )
            total = await cur.fetch_value(f"SELECT count(*) FROM orders WHERE {where}", params)
        return dumps({"success": True, "data": page.result(rows, total)}), [table_tag("orders")]

    key = ("orders", "all" if user.is_admin else user.id, query["status"], page.page, page.per_page)
    return cached_response(request, await request.app[RESPONSE_CACHE].fetch(key, build), private=True)


@routes.route("GET", "/api/orders/{id}", access=Access.USER, summary="One order with its lines")
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
    body=STATUS_CHANGE,
)
async def set_order_status(request: web.Request) -> web.Response:
    change = await parse_body(request, STATUS_CHANGE)
    order = await change_order_status(
        request.app[DATABASE],
        id_from_path(request, "Order not found"),
        change["status"],
        change.get("tracking_number"),
        current_user(request),
    )
    request.app[RESPONSE_CACHE].drop(table_tag("orders"))
    return ok(order)
