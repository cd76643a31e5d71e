"""Inventory routes: the admin's stock view (#48), manual adjustments (#18) and their log (#19)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jaan.db.pool import Cursor
from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.shop.freshness import STOCK_VIEWS, forget_stock_here
from jaan.shop.inventory.ledger import change_stock
from jaan.shop.store_settings import read_settings
from jaan.shop.whole_lists import refuse_if_too_long, wants_whole_list, whole_list_response
from jaan.state import DATABASE
from jaan.web.envelope import dumps, ok
from jaan.web.errors import InvalidInput, NotFound
from jaan.web.validation import Choice, Integer, Page, String, parse_body, parse_query

routes = RouteTable("inventory")

# Which way each kind of adjustment moves stock ("sale" belongs to checkout alone).
DIRECTIONS = {"restock": 1, "return": 1, "spoilage": -1, "damage": -1, "theft": -1, "correction": 0}
ADJUSTMENT = {
    "productId": Integer(minimum=1, required=False),
    "variantId": Integer(minimum=1, required=False, nullable=True),
    "adjustmentType": Choice(tuple(DIRECTIONS)),
    "quantityChange": Integer(minimum=-1_000_000, maximum=1_000_000),
    "reason": String(min_length=1, max_length=500),
    "notes": String(max_length=2000, required=False, nullable=True),
}
LOG_QUERY = {
    "productId": Integer(minimum=1, required=False),
    "variantId": Integer(minimum=1, required=False),
    "type": Choice((*DIRECTIONS, "sale"), required=False),
    "limit": Integer(minimum=1, maximum=100, default=100),
    "page": Integer(minimum=1, maximum=1_000_000, default=1),
}
STOCK_STATUSES = ("in_stock", "low_stock", "out_of_stock")
VIEW_QUERY = {
    "search": String(max_length=200, required=False),
    "status": Choice(("all", *STOCK_STATUSES), default="all"),
    "page": Integer(minimum=1, maximum=1_000_000, default=1),
    "per_page": Integer(minimum=1, maximum=100, default=100),
}


@routes.route(
    "POST", "/api/admin/inventory/adjust", access=Access.ADMIN, summary="Adjust a product's stock", body=ADJUSTMENT
)
async def adjust(request: web.Request) -> web.Response:
    body = await parse_body(request, ADJUSTMENT)
    change, kind = body["quantityChange"], body["adjustmentType"]
    if change == 0 or DIRECTIONS[kind] * change < 0:
        way = {1: "positive", -1: "negative", 0: "non-zero"}[DIRECTIONS[kind]]
        raise InvalidInput("Invalid input", details={"quantityChange": f"must be {way} for {kind}"})
    actor = current_user(request)
    async with request.app[DATABASE].transaction() as cur:
        product_id = await _product_of(cur, body)
        allow = bool((await read_settings(cur, "allow_negative_stock")).get("allow_negative_stock", False))
        result = await change_stock(
            cur,
            product_id,
            change,
            kind,
            actor=actor,
            reason=body["reason"],
            notes=body.get("notes"),
            variant_id=body.get("variantId"),
            allow_negative=allow,
        )
        await record_activity(
            cur,
            type="product",
            action="Inventory Adjusted",
            actor=actor,
            entity_type="product",
            entity_id=product_id,
            description=f"{kind} {change:+d}: {result.before} → {result.after}",
            details={"reason": body["reason"]},
        )
    forget_stock_here(request, product_id)
    return ok(result.adjustment)


async def _product_of(cur: Cursor, body: dict[str, Any]) -> int:
    """The product an adjustment is for: given, or the variant's (stock is counted per product)."""
    if body.get("variantId"):
        row = await cur.fetch_one("SELECT product_id FROM product_variants WHERE id = %s", (body["variantId"],))
        if row is None:
            raise NotFound("Variant not found")
        if body.get("productId") not in (None, row["product_id"]):
            raise InvalidInput("Invalid input", details={"variantId": "belongs to another product"})
        return int(row["product_id"])
    if not body.get("productId"):
        raise InvalidInput("Invalid input", details={"productId": "is required"})
    return int(body["productId"])


@routes.route(
    "GET",
    "/api/admin/inventory/adjustments",
    access=Access.ADMIN,
    summary="The stock ledger, newest first",
    query=LOG_QUERY,
)
async def adjustments(request: web.Request) -> web.Response:
    query = parse_query(request, LOG_QUERY)
    conditions, params = ["true"], []
    for field, column in (("productId", "product_id"), ("variantId", "variant_id"), ("type", "adjustment_type")):
        if query.get(field) is not None:
            conditions.append(f"{column} = %s")
            params.append(query[field])
    rows = await request.app[DATABASE].fetch_all(
        f"SELECT * FROM inventory_adjustments WHERE {' AND '.join(conditions)}"
        " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
        (*params, query["limit"], (query["page"] - 1) * query["limit"]),
    )
    return ok(rows)


_STOCK_LEVELS_SQL = (
    'SELECT id, name, sku, stock_quantity AS "currentStock", low_stock_threshold AS "minStock",'
    ' coalesce(cost_price, price) AS "unitCost", coalesce(category_id, 0) AS "categoryId", price, stock_status'
    " FROM products"
)
# Over every live product (one rule for low and out of stock: the stock_status column).
_STOCK_STATS_SQL = (
    'SELECT count(*) AS "totalItems",'
    ' coalesce(round(sum(greatest(stock_quantity, 0) * coalesce(cost_price, price)), 2), 0) AS "totalValue",'
    " count(*) FILTER (WHERE stock_status = 'out_of_stock') AS \"outOfStockCount\","
    " count(*) FILTER (WHERE stock_status = 'low_stock') AS \"lowStockCount\""
    " FROM products WHERE archived_at IS NULL"
)


@routes.route(
    "GET",
    "/api/admin/inventory",
    access=Access.ADMIN,
    summary="Stock levels and their value: every product without page/per_page (up to a ceiling), else a page",
    query=VIEW_QUERY,
)
async def inventory(request: web.Request) -> web.Response:
    query = parse_query(request, VIEW_QUERY)
    conditions, params = ["archived_at IS NULL"], []
    if query.get("search"):
        conditions.append("(name ILIKE %s OR sku ILIKE %s)")
        params += [f"%{escape_like(query['search'])}%"] * 2
    if query["status"] != "all":
        conditions.append("stock_status = %s")
        params.append(query["status"])
    where = " AND ".join(conditions)
    database = request.app[DATABASE]
    if wants_whole_list(request):

        async def build() -> bytes:
            async with database.cursor() as cur:
                refuse_if_too_long(
                    request, await cur.fetch_value(f"SELECT count(*) FROM products WHERE {where}", params)
                )
                products = await cur.fetch_all(f"{_STOCK_LEVELS_SQL} WHERE {where} ORDER BY name, id", params)
                stats = await cur.fetch_one(_STOCK_STATS_SQL)
            return dumps({"success": True, "data": {"products": products, "stats": stats, "total": len(products)}})

        # Kept until a stock change (STOCK_VIEWS) or any catalogue change (which empties the cache).
        key = ("whole inventory", query.get("search"), query["status"])
        return await whole_list_response(request, key, build, (STOCK_VIEWS,))
    page = Page(query["page"], query["per_page"])
    products = await database.fetch_all(
        f"{_STOCK_LEVELS_SQL} WHERE {where} ORDER BY name, id LIMIT %s OFFSET %s", (*params, page.per_page, page.offset)
    )
    stats = await database.fetch_one(_STOCK_STATS_SQL)
    total = await database.fetch_value(f"SELECT count(*) FROM products WHERE {where}", params)
    listing = page.result(products, total)
    return ok({"products": listing.pop("data"), "stats": stats, **listing})
