"""Lists the store's web client reads whole: admin inventory and admin users (CONTRACTS.md, pagination).

The client's Inventory and Users pages ask without paging parameters and count what they get, as
the service it replaces returned every row.  So without `page` and `per_page` these routes answer
every row, built once per worker and kept in the response cache until a change notification drops
it; past the `whole_list_max_rows` setting the answer is a 400 asking for pages, so no request can
make the service build an unbounded answer.  With either parameter they page like every list.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Iterable

from aiohttp import web

from jaan.state import SETTINGS
from jaan.web.errors import InvalidInput
from jaan.web.paging import Paging
from jaan.web.response_cache import RESPONSE_CACHE, cached_response


def wants_whole_list(query: Paging) -> bool:
    """True when the request names no page: the client reads the whole list."""
    return not {"page", "per_page"} & query.model_fields_set


def refuse_if_too_long(request: web.Request, rows: int) -> None:
    """400 when a whole list would have more rows than the ceiling allows."""
    ceiling = request.app[SETTINGS].whole_list_max_rows
    if rows > ceiling:
        raise InvalidInput(
            f"This list has {rows} rows, more than {ceiling} at once; ask for pages with page and per_page",
            details={"per_page": f"is required for more than {ceiling} rows"},
        )


async def whole_list_response(
    request: web.Request, key: Hashable, build: Callable[[], Awaitable[bytes]], tags: Iterable[str]
) -> web.Response:
    """The whole list's cached response (private: admin data), built by `build` when missing."""
    kept_tags = tuple(tags)

    async def built() -> tuple[bytes, Iterable[str]]:
        return await build(), kept_tags

    return cached_response(request, await request.app[RESPONSE_CACHE].fetch(key, built), private=True)
