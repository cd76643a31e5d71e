"""Orders written straight into the database, with the totals, statuses and dates a test needs."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests.shop.orders.conftest import Shop


def place_order(
    shop: Shop,
    user_id,
    total: str,
    *,
    status: str = "pending",
    created_at: dt.datetime | None = None,
    product_id: int | None = None,
    quantity: int = 1,
    name: str = "Test Customer",
) -> int:
    """One order of one line worth `total` (no tax or shipping)."""
    amount = Decimal(total)
    order_id = shop.value(
        "INSERT INTO orders (user_id, customer_name, customer_email, status, shipping_street, shipping_city,"
        " shipping_state, shipping_zip, subtotal, total, payment_method, created_at)"
        " VALUES (%s, %s, 'c@example.com', %s, '1 Main St', 'Springfield', 'IL', '62701', %s, %s, 'cod',"
        " coalesce(%s, now())) RETURNING id",
        (str(user_id) if user_id else None, name, status, amount, amount, created_at),
    )
    unit = amount / quantity
    shop.query(
        "INSERT INTO order_items (order_id, product_id, product_name, product_sku, quantity, unit_price, total_price)"
        " VALUES (%s, %s, coalesce((SELECT name FROM products WHERE id = %s), 'Gone'), 'SKU', %s, %s, %s)",
        (order_id, product_id, product_id, quantity, unit, amount),
    )
    return order_id


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)
