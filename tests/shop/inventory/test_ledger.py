"""The stock ledger: atomic changes, never below zero, every change recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid

import pytest

from jaan.db.pool import Database, PoolConfig
from jaan.shop.inventory.ledger import InsufficientStock, Movement, change_stock, movements_statement
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


async def test_a_batch_of_movements_runs_each_products_ledger_in_order(database):
    a, b = await new_product(database, stock=5), await new_product(database)
    at = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    batch = [
        Movement(a, -2, "sale", "order 1", at),
        Movement(b, 10, "restock", "delivery", at),
        Movement(a, 4, "restock", "delivery"),
        Movement(b, -3, "damage", "dropped"),
        Movement(a, -1, "sale", "order 2"),
    ]
    async with database.transaction() as cur:
        await cur.execute(*movements_statement(batch, actor_name="bin/seed"))
    rows = await database.fetch_all(
        "SELECT product_id, adjustment_type, quantity_change, quantity_before, quantity_after, adjusted_by_name,"
        " created_at FROM inventory_adjustments WHERE product_id IN (%s, %s) ORDER BY id",
        (a, b),
    )
    assert [(r["product_id"], r["quantity_change"], r["quantity_before"], r["quantity_after"]) for r in rows] == [
        (a, -2, 5, 3),
        (b, 10, 0, 10),
        (a, 4, 3, 7),
        (b, -3, 10, 7),
        (a, -1, 7, 6),
    ]
    assert rows[0]["created_at"] == at and rows[0]["adjusted_by_name"] == "bin/seed"
    stock = await database.fetch_all(
        "SELECT id, stock_quantity, last_adjustment_reason FROM products WHERE id IN (%s, %s) ORDER BY id", (a, b)
    )
    assert [(r["stock_quantity"], r["last_adjustment_reason"]) for r in stock] == [(6, "sale"), (7, "damage")]


async def test_a_batch_that_would_take_stock_below_zero_writes_no_row_for_that_product(database):
    a, b = await new_product(database, stock=1), await new_product(database, stock=1)
    async with database.transaction() as cur:
        await cur.execute(*movements_statement([Movement(a, -2, "sale"), Movement(b, -1, "sale")]))
    counts = await database.fetch_all(
        "SELECT p.id, p.stock_quantity,"
        " (SELECT count(*) FROM inventory_adjustments i WHERE i.product_id = p.id) AS rows"
        " FROM products p WHERE p.id IN (%s, %s) ORDER BY p.id",
        (a, b),
    )
    # The caller sees fewer ledger rows than movements (bin/seed then rolls back everything).
    assert [(r["stock_quantity"], r["rows"]) for r in counts] == [(1, 0), (0, 1)]


async def test_a_batch_movement_naming_a_variant_moves_its_on_hand_too(database):
    product = await new_product(database, stock=0)
    variant = await database.fetch_value(
        "INSERT INTO product_variants (product_id, variant_name, variant_type, sku, price, on_hand_quantity)"
        " VALUES (%s, 'Large', 'size', %s, 1.00, 0) RETURNING id",
        (product, f"V-{uuid.uuid4().hex[:10]}"),
    )
    batch = [Movement(product, 4, "restock"), Movement(product, 6, "restock", variant_id=variant)]
    async with database.transaction() as cur:
        await cur.execute(*movements_statement(batch))
    assert await database.fetch_value("SELECT stock_quantity FROM products WHERE id = %s", (product,)) == 10
    assert await database.fetch_value("SELECT on_hand_quantity FROM product_variants WHERE id = %s", (variant,)) == 6
    # A variant taken below zero writes no row for that change, so the caller rolls back.
    with pytest.raises(LookupError):
        async with database.transaction() as cur:
            await cur.execute(*movements_statement([Movement(product, -7, "damage", variant_id=variant)]))
            if cur.rowcount == 0:
                raise LookupError("short")
    assert await database.fetch_value("SELECT stock_quantity FROM products WHERE id = %s", (product,)) == 10
