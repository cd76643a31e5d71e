"""The activity log helper writes inside the caller's transaction."""

from __future__ import annotations

import uuid

import pytest

from jaan.db.pool import Database, PoolConfig
from jaan.shop.activity import record_activity


@pytest.fixture
async def database(probe_database):
    db = Database(PoolConfig(probe_database, min_size=1, max_size=2))
    await db.open()
    yield db
    await db.close()


async def test_activity_is_written_with_the_change_and_rolled_back_with_it(database):
    kept, dropped = uuid.uuid4().hex, uuid.uuid4().hex
    async with database.transaction() as cur:
        await record_activity(
            cur,
            type="product",
            action="Product Updated",
            description="price changed",
            entity_type="product",
            entity_id=kept,
            details={"price": "3.50"},
        )
    with pytest.raises(RuntimeError):
        async with database.transaction() as cur:
            await record_activity(
                cur,
                type="product",
                action="Product Updated",
                description="x",
                entity_type="product",
                entity_id=dropped,
            )
            raise RuntimeError("the change failed")
    row = await database.fetch_one("SELECT * FROM activity_logs WHERE entity_id = %s", (kept,))
    assert row is not None and row["details"] == {"price": "3.50"} and row["severity"] == "info"
    assert await database.fetch_value("SELECT count(*) FROM activity_logs WHERE entity_id = %s", (dropped,)) == 0
