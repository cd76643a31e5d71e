"""Products and carts for the order tests."""

from __future__ import annotations

import uuid
from decimal import Decimal

import psycopg2
import pytest


class Shop:
    """Direct database access for arranging and checking order tests."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        with psycopg2.connect(self.dsn) as conn, conn.cursor() as cur:
            cur.execute(sql, params)
            rows = cur.fetchall() if cur.description else []
        conn.close()
        return rows

    def value(self, sql: str, params: tuple = ()):
        return self.query(sql, params)[0][0]

    def product(self, stock: int = 10, price: str = "4.50", name: str | None = None) -> int:
        tag = uuid.uuid4().hex[:10]
        return self.value(
            "INSERT INTO products (name, slug, sku, price, unit, stock_quantity)"
            " VALUES (%s, %s, %s, %s, 'kg', %s) RETURNING id",
            (name or f"Basmati {tag}", f"basmati-{tag}", f"SKU-{tag}", Decimal(price), stock),
        )

    def stock(self, product_id: int) -> int:
        return self.value("SELECT stock_quantity FROM products WHERE id = %s", (product_id,))

    def orders_of(self, user_id) -> int:
        return self.value("SELECT count(*) FROM orders WHERE user_id = %s", (user_id,))


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)


def cart(*lines: tuple[int, int], **changes) -> dict:
    body = {
        "customer_name": "Amina Diallo",
        "customer_email": "amina@example.com",
        "customer_phone": "555-0100",
        "shipping_address": {
            "street": "1 Market St",
            "city": "Springfield",
            "state": "IL",
            "zip": "62701",
            "country": "United States",
        },
        "billing_address": None,
        "items": [
            {"product_id": pid, "quantity": qty, "product_name": "ignored", "unit_price": 0.01} for pid, qty in lines
        ],
        "payment_method": "cash_on_delivery",
        # What the real checkout sends and we ignore: money fields (some undefined) and a user id.
        "total": 0.01,
        "user_id": str(uuid.uuid4()),
    }
    body.update(changes)
    return body
