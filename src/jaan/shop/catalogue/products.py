"""The storefront's products: the filtered, sorted, paged list (#8) and one product by slug (#9).

Also the two shapes a product leaves in: the public one (§4.5, no cost or supplier data) and
the admin one (every column, plus the old admin form's ``on_hand_quantity``).
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import model_validator

from jaan.db.batch import Batch, Take
from jaan.db.pool import Cursor, Row
from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.shop.freshness import IN_STOCK_LISTS, product_tag, read_catalogue
from jaan.shop.stock_overlay import STOCK_MAP, Stock, StockedPage, with_holes
from jaan.state import REPLICAS
from jaan.web.answers import Envelope, Page, Shape
from jaan.web.envelope import dumps
from jaan.web.errors import InvalidInput, NotFound
from jaan.web.fields import Id, Money, Text
from jaan.web.paging import Paging, PerPage, fetch_page
from jaan.web.response_cache import RESPONSE_CACHE, cached_response

routes = RouteTable("catalogue")

# The sort orders the storefront offers; the id breaks ties so paging never repeats or skips a row.
SORT_ORDERS = {
    "newest": "p.created_at DESC, p.id DESC",
    "name": "p.name ASC, p.id ASC",
    "price_asc": "p.price ASC, p.id ASC",
    "price_desc": "p.price DESC, p.id DESC",
}

SortOrder = Literal["newest", "name", "price_asc", "price_desc"]

PUBLIC_COLUMNS = """
p.id, p.name, p.slug, p.description, p.short_description, p.price, p.compare_price, p.sku, p.barcode,
p.category_id, coalesce(c.name, '') AS category_name, p.images, p.stock_quantity, p.stock_status, p.unit,
p.weight, p.is_featured, p.is_new, p.created_at, p.updated_at
"""

# Each filter is a fixed fragment; only the values travel as parameters.
_FILTERS = {
    "category_id": "p.category_id = %(category_id)s",
    # Parenthesised, so the OR cannot leak out of the AND-ed filters (D-22); the trigram
    # indexes on name and description serve both ILIKEs.
    "search": "(p.name ILIKE %(pattern)s OR p.description ILIKE %(pattern)s)",
    "in_stock_only": "p.stock_status <> 'out_of_stock'",
    "min_price": "p.price >= %(min_price)s",
    "max_price": "p.price <= %(max_price)s",
}

_FROM = "FROM products p LEFT JOIN categories c ON c.id = p.category_id WHERE p.archived_at IS NULL"

# The product pages a worker misses together, read in one statement (slug is unique).
_BY_SLUGS_SQL = f"SELECT {PUBLIC_COLUMNS} {_FROM} AND p.slug = ANY(%s)"


class ProductFilter(Paging):
    """What the storefront asked for: every filter AND-ed, the search a literal substring."""

    category_id: Id | None = None
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any
    in_stock_only: bool = False
    min_price: Money | None = None
    max_price: Money | None = None
    sort_by: SortOrder = "newest"
    per_page: PerPage = 12

    @model_validator(mode="after")
    def _price_range(self) -> ProductFilter:
        if self.min_price is not None and self.max_price is not None and self.min_price > self.max_price:
            raise InvalidInput("Invalid input", details={"max_price": "must be at least min_price"})
        return self

    def where(self) -> tuple[str, dict[str, Any]]:
        """The WHERE clause (after ``archived_at IS NULL``) and its parameters."""
        clauses: list[str] = []
        params: dict[str, Any] = {}
        if self.category_id is not None:
            clauses.append(_FILTERS["category_id"])
            params["category_id"] = self.category_id
        if self.search:
            clauses.append(_FILTERS["search"])
            params["pattern"] = f"%{escape_like(self.search)}%"
        if self.in_stock_only:
            clauses.append(_FILTERS["in_stock_only"])
        if self.min_price is not None:
            clauses.append(_FILTERS["min_price"])
            params["min_price"] = self.min_price
        if self.max_price is not None:
            clauses.append(_FILTERS["max_price"])
            params["max_price"] = self.max_price
        return "".join(f" AND {clause}" for clause in clauses), params


async def list_products(cur: Cursor, wanted: ProductFilter) -> tuple[list[Row], int]:
    """One page of live products and the total matching `wanted`."""
    where, params = wanted.where()
    return await fetch_page(
        cur,
        wanted,
        f"SELECT {PUBLIC_COLUMNS} {_FROM}{where} ORDER BY {SORT_ORDERS[wanted.sort_by]}",
        f"SELECT count(*) FROM products p WHERE p.archived_at IS NULL{where}",
        params,
    )


async def products_by_slugs(cur: Cursor, slugs: list[str]) -> dict[str, Row]:
    """The live products with these slugs, by slug (an unknown or archived one is missing)."""
    return {row["slug"]: row for row in await cur.fetch_all(_BY_SLUGS_SQL, (slugs,))}


def product_pages(app: web.Application) -> Batch[str, Row]:
    """The rows behind product pages, the misses of one moment read together (:mod:`jaan.db.batch`)."""

    async def read(take: Take[str]) -> dict[str, Row]:
        if app.get(REPLICAS) is not None:
            # A replica is chosen for the changes heard so far: the keys are taken before it is.
            slugs = take()
            return await read_catalogue(app, lambda cur: products_by_slugs(cur, slugs))
        return await read_catalogue(app, lambda cur: products_by_slugs(cur, take()))

    return Batch(read)


PRODUCT_PAGES: web.AppKey[Batch[str, Row]] = web.AppKey("product_pages", Batch)


def _date(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).date().isoformat()


def public_product(row: Row) -> dict[str, Any]:
    """The §4.5 public shape: compare_price, weight and barcode only when set, dates as days."""
    product = dict(row)
    for optional in ("compare_price", "weight"):
        if not product[optional]:
            del product[optional]
    if product["barcode"] is None:
        del product["barcode"]
    product["images"] = product["images"] or []
    product["created_at"] = _date(row["created_at"])
    product["updated_at"] = _date(row["updated_at"])
    return product


def admin_product(row: Row) -> dict[str, Any]:
    """Every column for the admin screens, plus ``on_hand_quantity``, which the old admin form
    reads (there is one stock counter now, so it equals ``stock_quantity``)."""
    product = dict(row)
    product["on_hand_quantity"] = row["stock_quantity"]
    product["images"] = product["images"] or []
    return product


class PublicProduct(Shape):
    """A live product as the storefront shows it (§4.5: no cost or supplier data)."""

    id: int
    name: str
    slug: str
    description: str | None
    price: float
    sku: str
    category_id: int | None
    category_name: str
    images: list[str]
    stock_quantity: int
    stock_status: str
    unit: str
    is_featured: bool
    is_new: bool
    created_at: dt.date
    updated_at: dt.date


class ProductList(Envelope[Page[PublicProduct]]):
    """One page of live products."""


class OneProduct(Envelope[PublicProduct]):
    """One live product."""


@routes.route(
    "GET",
    "/api/products",
    access=Access.PUBLIC,
    summary="Live products: filtered, sorted and paged",
    query=ProductFilter,
    responses={200: ProductList},
)
async def get_products(request: web.Request, query: ProductFilter) -> web.Response:
    # Kept until a catalogue change; stock changes are overlaid (jaan.shop.stock_overlay), except
    # that an in-stock-only list is dropped when one of its products runs out or comes back.
    async def build() -> tuple[StockedPage, list[str]]:
        rows, total = await read_catalogue(request.app, lambda cur: list_products(cur, query))
        products = [public_product(row) for row in rows]
        built: dict[int, Stock] = dict(with_holes(product) for product in products)
        body = dumps({"success": True, "data": query.result(products, total)})
        tags = [product_tag(row["id"]) for row in rows]
        if query.in_stock_only:
            tags.append(IN_STOCK_LISTS)
        return StockedPage(request.app[STOCK_MAP], body, built), tags

    key = ("products", *query.__dict__.values())
    return cached_response(request, await request.app[RESPONSE_CACHE].fetch(key, build))


@routes.route(
    "GET",
    "/api/products/slug/{slug}",
    access=Access.PUBLIC,
    summary="One live product by slug",
    responses={200: OneProduct},
)
async def get_product_by_slug(request: web.Request) -> web.Response:
    slug = request.match_info["slug"]

    async def build() -> tuple[StockedPage, list[str]]:
        row = await request.app[PRODUCT_PAGES].get(slug)
        if row is None:
            raise NotFound("Product not found")
        product = public_product(row)
        built = dict([with_holes(product)])
        body = dumps({"success": True, "data": product})
        return StockedPage(request.app[STOCK_MAP], body, built), [product_tag(row["id"])]

    return cached_response(request, await request.app[RESPONSE_CACHE].fetch(("product", slug), build))
