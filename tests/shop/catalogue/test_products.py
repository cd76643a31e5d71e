"""The storefront's product list (#8) and product page (#9)."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest

from tests.shop.catalogue.conftest import token


async def listed(client, **query):
    """The page (the spec's PAGE: ``data`` holds data/total/page/per_page/total_pages) and ``success``."""
    response = await client.get("/api/products", params={k: str(v) for k, v in query.items()})
    assert response.status == 200, await response.text()
    body = await response.json()
    assert set(body) == {"success", "data"}
    return {"success": body["success"], **body["data"]}


def names(page) -> list[str]:
    return [product["name"] for product in page["data"]]


async def test_a_product_has_the_public_shape(make_client, make_category, make_product):
    category = make_category()
    product = make_product(
        category_id=category["id"], compare_price="12.50", weight="1.5", images=["/a.png"], price="9.90"
    )
    body = await listed(await make_client(), category_id=category["id"])
    assert body["success"] is True
    assert (body["total"], body["page"], body["per_page"], body["total_pages"]) == (1, 1, 12, 1)
    item = body["data"][0]
    assert item["price"] == 9.9 and item["compare_price"] == 12.5 and item["weight"] == 1.5
    assert item["category_name"] == category["name"] and item["images"] == ["/a.png"]
    assert item["created_at"] == product["created_at"].astimezone(dt.UTC).date().isoformat()
    assert item["stock_status"] == "in_stock" and item["short_description"] == ""
    assert "barcode" not in item
    for admin_only in ("cost_price", "margin_percentage", "supplier_name", "supplier_id", "archived_at"):
        assert admin_only not in item


async def test_optional_fields_are_omitted_and_a_missing_category_reads_empty(make_client, make_product):
    tag = token()
    make_product(name=f"Plain {tag}")
    item = (await listed(await make_client(), search=tag))["data"][0]
    assert "compare_price" not in item and "weight" not in item and "barcode" not in item
    assert item["category_name"] == "" and item["category_id"] is None and item["images"] == []


async def test_search_inside_a_category_does_not_leak_other_categories(make_client, make_category, make_product):
    # The original's `category AND name OR description` returned the other category's product.
    tag = token()
    ours, theirs = make_category(), make_category()
    make_product(name=f"Basmati {tag}", category_id=ours["id"])
    make_product(name="Something else", description=f"mentions {tag}", category_id=theirs["id"])
    body = await listed(await make_client(), category_id=ours["id"], search=tag)
    assert names(body) == [f"Basmati {tag}"] and body["total"] == 1


async def test_search_matches_name_or_description_case_insensitively(make_client, make_product):
    tag = token()
    make_product(name=f"Rice {tag.upper()}")
    make_product(description=f"great with {tag} tea")
    assert (await listed(await make_client(), search=tag))["total"] == 2


@pytest.mark.parametrize("wildcard", ["%", "_", "\\"])
async def test_search_wildcards_are_literal(make_client, make_product, wildcard):
    tag = token()
    make_product(name=f"Deal {tag}{wildcard}off")
    make_product(name=f"Deal {tag}XXoff")
    make_product(name=f"Deal {tag}Xoff")
    body = await listed(await make_client(), search=f"{tag}{wildcard}off")
    assert names(body) == [f"Deal {tag}{wildcard}off"]


async def test_every_filter_at_once(make_client, make_category, make_product):
    tag = token()
    category, other = make_category(), make_category()
    make_product(name=f"Keep {tag}", price="5.00", category_id=category["id"])
    make_product(name=f"Too cheap {tag}", price="0.99", category_id=category["id"])
    make_product(name=f"Too dear {tag}", price="50.01", category_id=category["id"])
    make_product(name=f"Sold out {tag}", price="5.00", stock_quantity=0, category_id=category["id"])
    make_product(name=f"Elsewhere {tag}", price="5.00", category_id=other["id"])
    make_product(name=f"Gone {tag}", price="5.00", category_id=category["id"], archived_at=dt.datetime.now(dt.UTC))
    body = await listed(
        await make_client(),
        category_id=category["id"],
        search=tag,
        in_stock_only="true",
        min_price="1.00",
        max_price="50",
    )
    assert names(body) == [f"Keep {tag}"]


async def test_price_bounds_are_inclusive(make_client, make_product):
    tag = token()
    for price in ("1.00", "2.00", "3.00"):
        make_product(name=f"P{price} {tag}", price=price)
    body = await listed(await make_client(), search=tag, min_price="1", max_price="2.00", sort_by="price_asc")
    assert names(body) == [f"P1.00 {tag}", f"P2.00 {tag}"]


async def test_in_stock_only_keeps_low_stock_and_drops_out_of_stock(make_client, make_product):
    tag = token()
    make_product(name=f"Low {tag}", stock_quantity=3)
    make_product(name=f"None {tag}", stock_quantity=0)
    body = await listed(await make_client(), search=tag, in_stock_only="true")
    assert names(body) == [f"Low {tag}"] and body["data"][0]["stock_status"] == "low_stock"
    assert (await listed(await make_client(), search=tag, in_stock_only="false"))["total"] == 2


@pytest.mark.parametrize(
    ("sort_by", "expected"),
    [
        ("name", ["a", "b", "c"]),
        ("price_asc", ["b", "c", "a"]),
        ("price_desc", ["a", "c", "b"]),
        ("newest", ["c", "b", "a"]),
        (None, ["c", "b", "a"]),
    ],
)
async def test_sort_orders(make_client, make_product, sort_by, expected):
    tag = token()
    now = dt.datetime.now(dt.UTC)
    for letter, price, age in (("a", "3.00", 3), ("b", "1.00", 2), ("c", "2.00", 1)):
        make_product(name=f"{letter} {tag}", price=price, created_at=now - dt.timedelta(days=age))
    query = {"search": tag} if sort_by is None else {"search": tag, "sort_by": sort_by}
    assert [n.split()[0] for n in names(await listed(await make_client(), **query))] == expected


async def test_pages_and_a_page_past_the_end(make_client, make_product):
    tag = token()
    for i in range(5):
        make_product(name=f"{i} {tag}")
    client = await make_client()
    first = await listed(client, search=tag, per_page=2, sort_by="name")
    third = await listed(client, search=tag, per_page=2, page=3, sort_by="name")
    past = await listed(client, search=tag, per_page=2, page=9)
    assert names(first) == [f"0 {tag}", f"1 {tag}"] and names(third) == [f"4 {tag}"]
    assert (first["total"], first["total_pages"]) == (5, 3)
    assert past["data"] == [] and (past["total"], past["total_pages"], past["page"]) == (5, 3, 9)


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"page": "0"}, "page"),
        ({"page": "x"}, "page"),
        ({"per_page": "101"}, "per_page"),
        ({"per_page": "0"}, "per_page"),
        ({"category_id": "abc"}, "category_id"),
        ({"min_price": "NaN"}, "min_price"),
        ({"min_price": "-1"}, "min_price"),
        ({"max_price": "1.001"}, "max_price"),
        ({"max_price": "Infinity"}, "max_price"),
        ({"sort_by": "price"}, "sort_by"),
        ({"in_stock_only": "maybe"}, "in_stock_only"),
        ({"min_price": "5", "max_price": "4"}, "max_price"),
    ],
)
async def test_bad_query_values_are_400_with_details(make_client, query, field):
    response = await (await make_client()).get("/api/products", params=query)
    assert response.status == 400
    body = await response.json()
    assert body["success"] is False and field in body["details"]


async def test_a_product_by_slug(make_client, make_product):
    product = make_product(price="4.25")
    response = await (await make_client()).get(f"/api/products/slug/{product['slug']}")
    assert response.status == 200
    data = (await response.json())["data"]
    assert data["id"] == product["id"] and data["price"] == 4.25 and "cost_price" not in data


async def test_an_unknown_or_archived_slug_is_404(make_client, make_product):
    archived = make_product(archived_at=dt.datetime.now(dt.UTC))
    client = await make_client()
    for slug in (archived["slug"], f"no-such-{token()}"):
        response = await client.get(f"/api/products/slug/{slug}")
        assert response.status == 404
        assert (await response.json())["error"] == "Product not found"


async def test_an_archived_product_is_never_listed(make_client, make_product):
    tag = token()
    make_product(name=f"Gone {tag}", archived_at=dt.datetime.now(dt.UTC))
    assert (await listed(await make_client(), search=tag))["total"] == 0


@pytest.mark.parametrize("path", ["/api/products?per_page=3", "slug", "/api/categories"])
async def test_catalogue_reads_answer_304_to_a_matching_etag(make_client, make_product, path):
    product = make_product()
    if path == "slug":
        path = f"/api/products/slug/{product['slug']}"
    client = await make_client()
    first = await client.get(path)
    etag = first.headers["ETag"]
    assert "max-age=" in first.headers["Cache-Control"]
    again = await client.get(path, headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag and await again.read() == b""
    stale = await client.get(path, headers={"If-None-Match": '"stale"'})
    assert stale.status == 200


async def test_a_changed_product_changes_the_etag(make_client, make_product, sql):
    product = make_product()
    client = await make_client()
    path = f"/api/products/slug/{product['slug']}"
    etag = (await client.get(path)).headers["ETag"]
    sql("UPDATE products SET price = 1.23 WHERE id = %s", (product["id"],))
    # The worker hears of the change by NOTIFY, within milliseconds: poll, bounded.
    for _ in range(100):
        changed = await client.get(path, headers={"If-None-Match": etag})
        if changed.status == 200:
            break
        await asyncio.sleep(0.01)
    assert changed.status == 200 and (await changed.json())["data"]["price"] == 1.23


async def test_compressed_responses_keep_the_tag_a_304_carries(make_client, make_product):
    product = make_product(description="x" * 5000)  # big enough to be compressed
    client = await make_client()
    path = f"/api/products/slug/{product['slug']}"
    first = await client.get(path, headers={"Accept-Encoding": "gzip"})
    assert first.headers["Content-Encoding"] == "gzip"
    again = await client.get(path, headers={"Accept-Encoding": "gzip", "If-None-Match": first.headers["ETag"]})
    assert again.status == 304 and again.headers["ETag"] == first.headers["ETag"]


async def test_product_pages_missed_together_are_read_together_and_answer_the_same(make_client, make_product):
    from jaan.shop.catalogue.products import PRODUCT_PAGES

    made = [make_product(description=f"Page {n}", compare_price=None if n % 2 else "9.50") for n in range(12)]
    paths = [f"/api/products/slug/{product['slug']}" for product in made] + [f"/api/products/slug/no-such-{token()}"]
    alone = await make_client()
    one_by_one = [(r.status, await r.read()) for r in [await alone.get(path) for path in paths]]
    together = await make_client()
    pages = together.server.app[PRODUCT_PAGES]
    answers = await asyncio.gather(*(together.get(path) for path in paths))
    assert [(r.status, await r.read()) for r in answers] == one_by_one
    assert one_by_one[-1][0] == 404 and all(status == 200 for status, _ in one_by_one[:-1])
    assert pages.reads < len(paths)  # the misses of one moment shared statements
