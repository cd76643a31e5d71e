"""The public category list (#7)."""

from __future__ import annotations

import datetime as dt


async def test_categories_come_ordered_by_name_with_live_product_counts(make_client, make_category, make_product):
    full = make_category(image="/grains.png")
    empty = make_category()
    for _ in range(3):
        make_product(category_id=full["id"])
    make_product(category_id=full["id"], archived_at=dt.datetime.now(dt.UTC))
    response = await (await make_client()).get("/api/categories")
    assert response.status == 200
    data = (await response.json())["data"]
    assert [c["name"] for c in data] == sorted(c["name"] for c in data)
    by_id = {c["id"]: c for c in data}
    assert by_id[full["id"]]["product_count"] == 3 and by_id[full["id"]]["image"] == "/grains.png"
    assert by_id[empty["id"]]["product_count"] == 0
    assert by_id[empty["id"]]["image"] == "/placeholder.svg" and by_id[empty["id"]]["description"] == ""
    assert set(by_id[empty["id"]]) >= {"id", "name", "slug", "description", "image", "product_count"}


async def test_the_seeded_categories_are_listed(make_client):
    data = (await (await make_client()).get("/api/categories")).json
    slugs = {c["slug"] for c in (await data())["data"]}
    assert {"grains", "cooking-oils", "beverages", "canned-goods"} <= slugs
