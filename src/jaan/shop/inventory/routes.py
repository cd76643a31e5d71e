"""Inventory routes: the admin's stock view (#48), manual adjustments (#18) and their log (#19)."""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

from aiohttp import web
from pydantic import ConfigDict, Field

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
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import dumps, ok
from jaan.web.errors import InvalidInput, NotFound
from jaan.web.fields import Id, Text
from jaan.web.input import FormBody, Query
from jaan.web.paging import PageNumber, Paging, PerPage, fetch_page

routes = RouteTable("inventory")

# Which way each kind of adjustment moves stock ("sale" belongs to checkout alone).
DIRECTIONS = {"restock": 1, "return": 1, "spoilage": -1, "damage": -1, "theft": -1, "correction": 0}
AdjustmentType = Literal["restock", "return", "spoilage", "damage", "theft", "correction"]
assert get_args(AdjustmentType) == tuple(DIRECTIONS)
StockStatus = Literal["in_stock", "low_stock", "out_of_stock"]


class Adjustment(FormBody):
    """A manual stock change: for a product, or for a variant (stock is counted per product).
    restock and return add (quantityChange > 0); spoilage, damage and theft take away (< 0);
    a correction is any non-zero change."""

    model_config = ConfigDict(json_schema_extra={"anyOf": [{"required": ["productId"]}, {"required": ["variantId"]}]})

    product_id: Id | None = None
    variant_id: Id | None = None
    adjustment_type: AdjustmentType
    quantity_change: Annotated[int, Field(ge=-1_000_000, le=1_000_000)]
    reason: Annotated[str, Text(1, 500)]
    notes: Annotated[str, Text(max_length=2000)] | None = None


class LedgerQuery(Query):
    productId: Id | None = None
    variantId: Id | None = None
    type: Literal[AdjustmentType, "sale"] | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 100
    page: PageNumber = 1


class StockQuery(Paging):
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any
    status: Literal["all", StockStatus] = "all"
    per_page: PerPage = 100


class LedgerRow(Shape):
    id: int
    product_id: int
    adjustment_type: str
    quantity_change: int
    quantity_before: int
    quantity_after: int


class OneAdjustment(Envelope[LedgerRow]):
    """The ledger row written."""


class Ledger(Envelope[list[LedgerRow]]):
    """The stock ledger, newest first."""


class StockLevel(Shape):
    id: int
    name: str
    sku: str
    currentStock: int
    minStock: int


class StockStats(Shape):
    totalItems: int
    totalValue: float
    outOfStockCount: int
    lowStockCount: int


class StockView(Shape):
    products: list[StockLevel]
    stats: StockStats
    total: int


class Inventory(Envelope[StockView]):
    """Stock levels with their stats (paged: page, per_page and total_pages beside total)."""


@routes.route(
    "POST",
    "/api/admin/inventory/adjust",
    access=Access.ADMIN,
    summary="Adjust a product's stock",
    body=Adjustment,
    responses={200: OneAdjustment},
    errors=(404, 409),
)
async def adjust(request: web.Request, body: Adjustment) -> web.Response:
    change, kind = body.quantity_change, body.adjustment_type
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
            reason=body.reason,
            notes=body.notes,
            variant_id=body.variant_id,
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
            details={"reason": body.reason},
        )
    forget_stock_here(request, product_id)
    return ok(result.adjustment)


async def _product_of(cur: Cursor, body: Adjustment) -> int:
    """The product an adjustment is for: given, or the variant's (stock is counted per product)."""
    if body.variant_id:
        row = await cur.fetch_one("SELECT product_id FROM product_variants WHERE id = %s", (body.variant_id,))
        if row is None:
            raise NotFound("Variant not found")
        if body.product_id not in (None, row["product_id"]):
            raise InvalidInput("Invalid input", details={"variantId": "belongs to another product"})
        return int(row["product_id"])
    if not body.product_id:
        raise InvalidInput("Invalid input", details={"productId": "is required"})
    return body.product_id


@routes.route(
    "GET",
    "/api/admin/inventory/adjustments",
    access=Access.ADMIN,
    summary="The stock ledger, newest first",
    query=LedgerQuery,
    responses={200: Ledger},
)
async def adjustments(request: web.Request, query: LedgerQuery) -> web.Response:
    conditions: list[str] = ["true"]
    params: list[Any] = []
    for value, column in (
        (query.productId, "product_id"),
        (query.variantId, "variant_id"),
        (query.type, "adjustment_type"),
    ):
        if value is not None:
            conditions.append(f"{column} = %s")
            params.append(value)
    rows = await request.app[DATABASE].fetch_all(
        f"SELECT * FROM inventory_adjustments WHERE {' AND '.join(conditions)}"
        " ORDER BY created_at DESC, id DESC LIMIT %s OFFSET %s",
        (*params, query.limit, (query.page - 1) * query.limit),
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
    query=StockQuery,
    responses={200: Inventory},
)
async def inventory(request: web.Request, query: StockQuery) -> web.Response:
    conditions: list[str] = ["archived_at IS NULL"]
    params: list[Any] = []
    if query.search:
        conditions.append("(name ILIKE %s OR sku ILIKE %s)")
        params += [f"%{escape_like(query.search)}%"] * 2
    if query.status != "all":
        conditions.append("stock_status = %s")
        params.append(query.status)
    where = " AND ".join(conditions)
    database = request.app[DATABASE]
    if wants_whole_list(query):

        async def build() -> bytes:
            async with database.cursor() as cur:
                refuse_if_too_long(
                    request, await cur.fetch_value(f"SELECT count(*) FROM products WHERE {where}", params)
                )
                products = await cur.fetch_all(f"{_STOCK_LEVELS_SQL} WHERE {where} ORDER BY name, id", params)
                stats = await cur.fetch_one(_STOCK_STATS_SQL)
            return dumps({"success": True, "data": {"products": products, "stats": stats, "total": len(products)}})

        # Kept until a stock change (STOCK_VIEWS) or any catalogue change (which empties the cache).
        key = ("whole inventory", query.search, query.status)
        return await whole_list_response(request, key, build, (STOCK_VIEWS,))
    async with database.cursor() as cur:
        products, total = await fetch_page(
            cur,
            query,
            f"{_STOCK_LEVELS_SQL} WHERE {where} ORDER BY name, id",
            f"SELECT count(*) FROM products WHERE {where}",
            params,
        )
        stats = await cur.fetch_one(_STOCK_STATS_SQL)
    listing = query.result(products, total)
    return ok({"products": listing.pop("data"), "stats": stats, **listing})
