"""Categories: the public list (#7) and looking a category up for the admin product form."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jaan.db.pool import Cursor
from jaan.routes import Access, RouteTable
from jaan.shop.freshness import read_catalogue
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import dumps
from jaan.web.errors import InvalidInput
from jaan.web.response_cache import RESPONSE_CACHE, cached_response

routes = RouteTable("catalogue")

PLACEHOLDER_IMAGE = "/placeholder.svg"

# product_count counts the live (non-archived) products, in one grouped pass over products.
_LIST_SQL = """
SELECT c.id, c.name, c.slug, c.description, coalesce(c.image, %(placeholder)s) AS image,
       coalesce(n.product_count, 0)::integer AS product_count
FROM categories c
LEFT JOIN (
    SELECT category_id, count(*) AS product_count
    FROM products
    WHERE archived_at IS NULL AND category_id IS NOT NULL
    GROUP BY category_id
) n ON n.category_id = c.id
ORDER BY c.name, c.id
"""

_BY_ID_SQL = "SELECT id FROM categories WHERE id = %s"
_BY_NAME_SQL = "SELECT id FROM categories WHERE name = %s"


class Category(Shape):
    id: int
    name: str
    slug: str
    product_count: int


class CategoryList(Envelope[list[Category]]):
    """Categories with their product counts."""


@routes.route(
    "GET",
    "/api/categories",
    access=Access.PUBLIC,
    summary="Categories with their product counts",
    responses={200: CategoryList},
)
async def list_categories(request: web.Request) -> web.Response:
    async def build() -> tuple[bytes, list[str]]:
        rows = await read_catalogue(
            request.app, lambda cur: cur.fetch_all(_LIST_SQL, {"placeholder": PLACEHOLDER_IMAGE})
        )
        # Product counts change only when products are added or archived: a catalogue change.
        return dumps({"success": True, "data": rows}), []

    return cached_response(request, await request.app[RESPONSE_CACHE].fetch("categories", build))


async def resolve_category(cur: Cursor, category_id: int | None, category_name: str | None) -> int | None:
    """The category a product form names, by id or (for the existing client) by exact name.

    Neither given (or an empty name) means no category; one that does not exist is a 400.
    """
    if category_id is not None:
        row: dict[str, Any] | None = await cur.fetch_one(_BY_ID_SQL, (category_id,))
        field = "categoryId"
    elif category_name:
        row = await cur.fetch_one(_BY_NAME_SQL, (category_name,))
        field = "category"
    else:
        return None
    if row is None:
        raise InvalidInput("Unknown category", details={field: "no such category"})
    return int(row["id"])
