"""Catalogue fixtures: rows made directly in the shared database, each with a unique token.

The database is shared with the rest of the test session, so every test makes its own
categories and products (names carrying a uuid token) and only asserts about those.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import closing
from typing import Any

import psycopg2
import psycopg2.extras
import pytest

Query = Callable[..., list[dict[str, Any]]]


@pytest.fixture
def sql(probe_database: str) -> Query:
    """Run one statement on its own connection (committed) and return its rows as dicts."""

    def run(statement: str, params: Any = None) -> list[dict[str, Any]]:
        with (
            closing(psycopg2.connect(probe_database)) as conn,
            conn,
            conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur,
        ):
            cur.execute(statement, params)
            return [dict(row) for row in cur.fetchall()] if cur.description else []

    return run


def token() -> str:
    return uuid.uuid4().hex[:12]


@pytest.fixture
def make_category(sql: Query) -> Callable[..., dict[str, Any]]:
    def make(name: str | None = None, image: str | None = None) -> dict[str, Any]:
        tag = token()
        name = name or f"Category {tag}"
        return sql(
            "INSERT INTO categories (name, slug, image) VALUES (%s, %s, %s) RETURNING *",
            (name, f"category-{tag}", image),
        )[0]

    return make


@pytest.fixture
def make_product(sql: Query) -> Callable[..., dict[str, Any]]:
    """A product inserted directly (the storefront tests need many, fast); any column overridable."""

    def make(**columns: Any) -> dict[str, Any]:
        tag = token()
        values: dict[str, Any] = {
            "name": f"Product {tag}",
            "slug": f"product-{tag}",
            "sku": f"SKU-{tag}",
            "price": "9.99",
            "unit": "kg",
            "description": f"Description {tag}",
            "stock_quantity": 50,
        }
        values.update(columns)
        names = list(values)
        return sql(
            f"INSERT INTO products ({', '.join(names)}) VALUES ({', '.join(f'%({n})s' for n in names)}) RETURNING *",
            values,
        )[0]

    return make
