"""Stock overlaid on the catalogue pages a worker keeps, instead of rebuilding them (issue 14).

An order changes the stock of a few products, and each shows on many cached list pages and on its
product page. Rather than drop and rebuild all of those, a page is kept with holes where its
products' ``stock_quantity`` and ``stock_status`` go, and each worker keeps a :class:`StockMap` of
the stock it has heard of: every stock notification carries the new count and status
(migrations/0020) and the map takes it as it arrives. Serving a page fills its holes from the map,
or, for a product the map has not heard of since it was last emptied, from the values the page was
built with: that page was read after the emptying, so after every notification the map has missed.
A page renders again (a new body, a new ETag) only when one of its products' stock has changed.

A worker that changed a product's stock itself forgets it, and until its listener proves that every
notification committed before then has arrived (its next liveness probe comes back: notifications
arrive in commit order), hears that product's notifications as before the overlay: it drops the pages
showing it, which are rebuilt from the database. So a notification of an earlier change that arrives
after the write never takes the writer's worker back to stock older than its own write.

The map empties with the response cache (a catalogue change, the listener lost or back), so a
product id the database reuses never shows another product's stock.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from jaan.web.etag import etag_of

# Every stock_status a product can have (the generated column of migrations/0003): a status heard
# in a notification is written into JSON as it is, so only these are ever taken.
STATUSES = frozenset({"in_stock", "low_stock", "out_of_stock"})

Stock = tuple[int, str]  # stock_quantity, stock_status

# A hole is a JSON string that starts with NUL: "\u0000q<id>" (the count) or "\u0000s<id>" (the
# status). PostgreSQL text and jsonb cannot hold NUL, so no product's own data can look like one.
_HOLE = re.compile(rb'"\\u0000([qs])(\d+)"')


class StockMap:
    """The stock this worker has heard of since it last emptied, each change numbered."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._stock: dict[int, Stock] = {}
        self._changed_at: dict[int, int] = {}
        self.generation = 0  # moves on with every change heard, forgotten or emptied
        self._cleared_at = 0
        self._clock = clock
        self._forgotten_at: dict[int, float] = {}  # written here, its earlier notifications maybe not in

    def heard(self, product_id: int, quantity: int, status: str) -> bool:
        """A stock notification: from now on the product shows this. False (and nothing kept) while
        the product is forgotten here: the caller drops its pages instead."""
        if product_id in self._forgotten_at:
            return False
        self._changed(product_id)
        self._stock[product_id] = (quantity, status)
        return True

    def forget(self, product_id: int) -> None:
        """This worker changed the product's stock itself (its pages are dropped): pages built from
        now on read the new count, and show it until :meth:`caught_up` passes this moment."""
        self._changed(product_id)
        self._stock.pop(product_id, None)
        self._forgotten_at[product_id] = self._clock()

    def caught_up(self, sent: float) -> None:
        """Every notification committed before `sent` (the clock's time) has been heard."""
        if self._forgotten_at:
            self._forgotten_at = {pid: at for pid, at in self._forgotten_at.items() if at >= sent}

    def clear(self) -> None:
        self.generation += 1
        self._cleared_at = self.generation
        self._stock.clear()
        self._changed_at.clear()

    def get(self, product_id: int) -> Stock | None:
        return self._stock.get(product_id)

    def changed_since(self, generation: int, product_ids: frozenset[int]) -> bool:
        """Whether any of these products' stock (or the whole map) changed after `generation`."""
        if self._cleared_at > generation:
            return True
        changed_at = self._changed_at
        return any(changed_at.get(product_id, 0) > generation for product_id in product_ids)

    def _changed(self, product_id: int) -> None:
        self.generation += 1
        self._changed_at[product_id] = self.generation

    def __len__(self) -> int:
        return len(self._stock)


def with_holes(product: dict[str, Any]) -> tuple[int, Stock]:
    """Replace a public product's stock with holes; returns its id and the stock it was built with."""
    product_id = int(product["id"])
    built = (int(product["stock_quantity"]), str(product["stock_status"]))
    product["stock_quantity"] = f"\x00q{product_id}"
    product["stock_status"] = f"\x00s{product_id}"
    return product_id, built


PAGE_OVERHEAD = 600
HOLE_OVERHEAD = 250


class StockedPage:
    """An encoded page with holes for its products' stock, filled from the worker's stock map
    (a :class:`jaan.web.response_cache.Overlaid`)."""

    def __init__(self, stock: StockMap, body: bytes, built: dict[int, Stock]) -> None:
        parts = _HOLE.split(body)
        self._stock = stock
        self._segments = parts[0::3]
        kinds, product_ids = parts[1::3], parts[2::3]
        self._holes = [(kind == b"q", int(product_id)) for kind, product_id in zip(kinds, product_ids, strict=True)]
        self._built = built
        self._product_ids = frozenset(built)
        # The pieces and the body last served, and the objects that keep them (measured with
        # tracemalloc: the page's own ~600 bytes and ~250 per hole, its piece, its stock as built).
        self.size = 2 * len(body) + PAGE_OVERHEAD + HOLE_OVERHEAD * len(self._holes)
        self._rendered_at = -1
        self._body = b""
        self._etag = ""

    def current(self) -> tuple[bytes, str]:
        stock = self._stock
        if self._rendered_at != stock.generation:
            if self._rendered_at < 0 or stock.changed_since(self._rendered_at, self._product_ids):
                self._render()
            self._rendered_at = stock.generation
        return self._body, self._etag

    def _render(self) -> None:
        stock, built, segments = self._stock, self._built, self._segments
        out = [segments[0]]
        for (is_count, product_id), segment in zip(self._holes, segments[1:], strict=True):
            quantity, status = stock.get(product_id) or built[product_id]
            out.append(str(quantity).encode() if is_count else b'"' + status.encode() + b'"')
            out.append(segment)
        self._body = b"".join(out)
        self._etag = etag_of(self._body)


STOCK_MAP: web.AppKey[StockMap] = web.AppKey("stock_map", StockMap)
