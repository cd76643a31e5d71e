"""fetch_page: the page and its total in one round trip, the same figures as two statements."""

from __future__ import annotations

from typing import Any, cast

import pytest

from jaan.db.pool import Cursor, Database, PoolConfig
from jaan.web.paging import Paging, fetch_page

# Twelve numbers with their parity, from generate_series, so the test needs no table of its own.
_NUMBERS = "(SELECT n, mod(n, 2) = 0 AS even FROM generate_series(1, 12) AS n) AS numbers"


class Counted:
    """Counts the statements a cursor sends."""

    def __init__(self, cur: Cursor) -> None:
        self.cur, self.statements = cur, 0

    async def fetch_all(self, sql: str, params: Any = None) -> Any:
        self.statements += 1
        return await self.cur.fetch_all(sql, params)

    async def fetch_value(self, sql: str, params: Any = None) -> Any:
        self.statements += 1
        return await self.cur.fetch_value(sql, params)


@pytest.fixture
async def database(probe_database):
    db = Database(PoolConfig(probe_database, min_size=1, max_size=1))
    await db.open()
    yield db
    await db.close()


@pytest.mark.parametrize(
    ("rows_sql", "count_sql", "params"),
    [
        (
            f"SELECT n, even FROM {_NUMBERS} WHERE n > %s ORDER BY n",
            f"SELECT count(*) FROM {_NUMBERS} WHERE n > %s",
            (2,),
        ),
        (
            f"\nSELECT * FROM {_NUMBERS} WHERE n > %(above)s ORDER BY n",
            f"SELECT count(*) FROM {_NUMBERS} WHERE n > %(above)s",
            {"above": 2},
        ),
    ],
)
async def test_a_page_and_its_total_come_in_one_statement(database, rows_sql, count_sql, params):
    async with database.cursor() as cur:
        counted = Counted(cur)
        rows, total = await fetch_page(cast(Cursor, counted), Paging(page=2, per_page=4), rows_sql, count_sql, params)
        assert rows == [
            {"n": 7, "even": False},
            {"n": 8, "even": True},
            {"n": 9, "even": False},
            {"n": 10, "even": True},
        ]
        assert list(rows[0]) == ["n", "even"] and total == 10 and counted.statements == 1
        # Past the end: no row carries the total, which is asked alone.
        counted.statements = 0
        assert await fetch_page(cast(Cursor, counted), Paging(page=4, per_page=4), rows_sql, count_sql, params) == (
            [],
            10,
        )
        assert counted.statements == 2
        # Nothing matches at all: the empty first page says so without a second statement.
        counted.statements = 0
        none = {"above": 99} if isinstance(params, dict) else (99,)
        assert await fetch_page(cast(Cursor, counted), Paging(page=1, per_page=4), rows_sql, count_sql, none) == ([], 0)
        assert counted.statements == 1


async def test_a_distinct_page_is_counted_by_its_own_statement(database):
    async with database.cursor() as cur:
        counted = Counted(cur)
        rows, total = await fetch_page(
            cast(Cursor, counted),
            Paging(page=1, per_page=1),
            f"SELECT DISTINCT even FROM {_NUMBERS} ORDER BY even",
            f"SELECT count(DISTINCT even) FROM {_NUMBERS}",
        )
        assert rows == [{"even": False}] and total == 2 and counted.statements == 2
