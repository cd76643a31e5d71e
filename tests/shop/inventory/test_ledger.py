"""The stock ledger: atomic changes, never below zero, every change recorded."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from jaan.db.pool import Database, PoolConfig
from jaan.shop.inventory.ledger import InsufficientStock, change_stock
from jaan.web.errors import NotFound


@pytest.fixture
async def database(probe_database):
    db = Database(PoolConfig(probe_database, min_size=2, max_size=10))
    await db.open()
    yield db
    await db.close()


async def new_product(db: Database, stock: int = 0, allow_negative: bool = False) -> int:
    tag = uuid.uuid4().hex[:10]
    return int(
        await db.fetch_value(
            "INSERT INTO products (name, slug, sku, price, unit, stock_quantity, allow_negative_stock)"
            " VALUES (%s, %s, %s, 1.00, 'kg', %s, %s) RETURNING id",
            (f"Rice {tag}", f"rice-{tag}", f"SKU-{tag}", stock, allow_negative),
        )
    )


async def test_each_change_is_recorded_with_before_and_after(database):
    product = await new_product(database)
    async with database.transaction() as cur:
        change = await change_stock(cur, product, 12, "restock", actor=None, reason="delivery")
    assert (change.before, change.after) == (0, 12)
    assert change.adjustment["quantity_change"] == 12 and change.adjustment["reason"] == "delivery"
    assert await database.fetch_value("SELECT stock_quantity FROM products WHERE id = %s", (product,)) == 12


async def test_concurrent_sales_never_take_stock_below_zero(database):
    product = await new_product(database, stock=10)

    async def sell_one() -> bool:
        try:
            async with database.transaction() as cur:
                await change_stock(cur, product, -1, "sale", actor=None)
            return True
        except InsufficientStock:
            return False

    results = await asyncio.gather(*(sell_one() for _ in range(25)))
    assert results.count(True) == 10
    assert await database.fetch_value("SELECT stock_quantity FROM products WHERE id = %s", (product,)) == 0
    assert (
        await database.fetch_value(
            "SELECT count(*) FROM inventory_adjustments WHERE product_id = %s AND adjustment_type = 'sale'",
            (product,),
        )
        == 10
    )


async def test_insufficient_stock_is_409_naming_the_product_and_writes_nothing(database):
    product = await new_product(database, stock=2)
    with pytest.raises(InsufficientStock, match="Insufficient stock for Rice") as caught:
        async with database.transaction() as cur:
            await change_stock(cur, product, -3, "sale", actor=None)
    assert caught.value.status == 409
    assert (
        await database.fetch_value("SELECT count(*) FROM inventory_adjustments WHERE product_id = %s", (product,)) == 0
    )


async def test_negative_stock_only_where_allowed(database):
    allowed = await new_product(database, stock=0, allow_negative=True)
    async with database.transaction() as cur:
        assert (await change_stock(cur, allowed, -2, "sale", actor=None)).after == -2
    plain = await new_product(database, stock=0)
    async with database.transaction() as cur:
        assert (await change_stock(cur, plain, -1, "sale", actor=None, allow_negative=True)).after == -1


async def test_unknown_product_is_404(database):
    with pytest.raises(NotFound):
        async with database.transaction() as cur:
            await change_stock(cur, 987654321, 1, "restock", actor=None)
