"""Stock overlaid on kept pages: filled from the stock heard, re-rendered (new ETag) only when it moved."""

from __future__ import annotations

import orjson

from jaan.shop.stock_overlay import StockedPage, StockMap, with_holes
from jaan.web.envelope import dumps
from jaan.web.response_cache import ResponseCache


def page(stock: StockMap, *products: dict) -> StockedPage:
    built = dict(with_holes(product) for product in products)
    return StockedPage(stock, dumps({"success": True, "data": list(products)}), built)


def shown(overlaid: StockedPage) -> dict[int, tuple[int, str]]:
    body, _ = overlaid.current()
    return {row["id"]: (row["stock_quantity"], row["stock_status"]) for row in orjson.loads(body)["data"]}


def product(product_id: int, quantity: int, description: str = "") -> dict:
    status = "out_of_stock" if quantity <= 0 else "low_stock" if quantity <= 10 else "in_stock"
    return {"id": product_id, "description": description, "stock_quantity": quantity, "stock_status": status}


def test_a_page_shows_what_it_was_built_with_until_stock_is_heard():
    stock = StockMap()
    overlaid = page(stock, product(1, 20), product(2, 5))
    assert shown(overlaid) == {1: (20, "in_stock"), 2: (5, "low_stock")}
    stock.heard(1, 0, "out_of_stock")
    assert shown(overlaid) == {1: (0, "out_of_stock"), 2: (5, "low_stock")}


def test_the_etag_moves_only_when_a_product_of_the_page_changes():
    stock = StockMap()
    overlaid = page(stock, product(1, 20))
    body, etag = overlaid.current()
    stock.heard(99, 3, "low_stock")  # another product
    assert overlaid.current() == (body, etag)
    stock.heard(1, 19, "in_stock")
    assert overlaid.current()[1] != etag
    stock.clear()  # emptied: back to what it was built with
    assert overlaid.current() == (body, etag)


def test_a_product_forgotten_here_shows_what_was_built():
    stock = StockMap()
    stock.heard(1, 7, "low_stock")
    overlaid = page(stock, product(1, 12))
    assert shown(overlaid) == {1: (7, "low_stock")}
    stock.forget(1)
    assert shown(overlaid) == {1: (12, "in_stock")}


def test_text_that_looks_like_a_hole_is_left_alone():
    stock = StockMap()
    stock.heard(1, 3, "low_stock")
    sneaky = '"\\u0000q1" "stock_quantity":"\\u0000q1"'
    overlaid = page(stock, product(1, 20, description=sneaky))
    body, _ = overlaid.current()
    assert orjson.loads(body)["data"][0]["description"] == sneaky
    assert shown(overlaid) == {1: (3, "low_stock")}


def test_the_response_cache_keeps_overlaid_pages_and_empties_the_map_with_itself():
    cache, stock = ResponseCache(), StockMap()
    cache.on_clear.append(stock.clear)
    cache.set_live(True)
    entry = cache.put("page", page(stock, product(1, 20)), ["product:1"])
    assert cache.get("page") is entry and entry.size > 0
    stock.heard(1, 2, "low_stock")
    cache.clear()
    assert len(stock) == 0 and cache.get("page") is None


def test_a_product_written_here_ignores_notifications_until_the_listener_has_caught_up():
    now = [100.0]
    stock = StockMap(clock=lambda: now[0])
    overlaid = page(stock, product(1, 22))  # read after this worker's own write (22)
    stock.forget(1)
    assert not stock.heard(1, 17, "in_stock")  # an earlier change, heard late: its pages are dropped instead
    assert shown(overlaid) == {1: (22, "in_stock")}
    stock.caught_up(99.0)  # a probe sent before the write: proves nothing about it
    assert not stock.heard(1, 17, "in_stock")
    now[0] = 101.0
    stock.caught_up(100.5)  # sent after the write: everything committed before it has been heard
    assert stock.heard(1, 21, "in_stock") and shown(overlaid) == {1: (21, "in_stock")}


def test_the_cache_budgets_overlaid_pages_at_what_they_cost_the_heap():
    import tracemalloc

    cache, stock = ResponseCache(max_bytes=1 << 40), StockMap()
    cache.set_live(True)

    def full(product_id: int) -> dict:  # a product as the catalogue answers it, roughly
        return {
            **product(product_id, 20, description="d" * (50 + product_id % 400)),
            "name": f"Basmati rice {product_id} kg",
            "slug": f"basmati-rice-{product_id}-kg",
            "price": "12.50",
            "sku": f"SKU-{product_id:06d}",
            "category": {"id": 3, "name": "Rice", "slug": "rice"},
            "images": [],
        }

    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(1500):  # product pages, as the slug route keeps them
        cache.put(("product", n), page(stock, full(n)), [f"product:{n}"]).current()
    for n in range(100):  # list pages of 20, as the product list and search keep them
        ids = range(10_000 + 20 * n, 10_020 + 20 * n)
        tags = ["table:products", "stock-views", *(f"product:{i}" for i in ids)]
        cache.put(("products", n), page(stock, *(full(i) for i in ids)), tags).current()
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert 0.8 < cache.held_bytes / used < 1.25, (cache.held_bytes, used)
