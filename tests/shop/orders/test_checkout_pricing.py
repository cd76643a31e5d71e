"""The checkout's server-side function prices by the one rule of jaan.shop.orders.pricing (money half up
to cents, tax on the subtotal, shipping free from the threshold), including the half-cent cases."""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg2
import pytest

from jaan.shop.orders.pricing import PricedLine, price
from tests.shop.orders.conftest import cart


@pytest.mark.parametrize(
    ("tax_rate", "lines"),
    [
        ("0.08", [("4.50", 3), ("12.25", 2)]),  # the storefront's example: 38.00, 3.04, 10.00
        ("0.0725", [("2.00", 1)]),  # tax 0.145: half up to 0.15 (half-even would say 0.14)
        ("0.05", [("0.30", 1)]),  # tax 0.015 -> 0.02
        ("0.0725", [("99.99", 1), ("0.01", 1)]),  # exactly the free-shipping threshold
        ("0.08", [("12.25", 7), ("0.99", 3)]),
    ],
)
def test_the_database_prices_by_the_same_rule(shop, customer, tax_rate, lines):
    products = [shop.product(stock=100, price=unit_price) for unit_price, _ in lines]
    body = cart(*[(pid, quantity) for pid, (_, quantity) in zip(products, lines, strict=True)])
    body["billing_address"] = body["shipping_address"]
    conn = psycopg2.connect(shop.dsn)
    try:
        with conn.cursor() as cur:  # the store's settings for this transaction only (rolled back below)
            cur.execute(
                "UPDATE settings SET value = CASE key WHEN 'tax_rate' THEN %s WHEN 'default_shipping_fee' THEN '10.00'"
                " ELSE '100.00' END WHERE key IN ('tax_rate', 'default_shipping_fee', 'free_shipping_threshold')",
                (tax_rate,),
            )
            cur.execute(
                "SELECT answer FROM place_order(%s, 'Test User', 'buyer@example.com', NULL, NULL, NULL,"
                " %s::jsonb, %s::int[], %s::int[])",
                (str(customer.id), json.dumps(body), products, [quantity for _, quantity in lines]),
            )
            answer = json.loads(cur.fetchone()[0], parse_float=Decimal, parse_int=Decimal)["data"]
    finally:
        conn.rollback()
        conn.close()
    expected = price(
        [PricedLine(pid, "", "", qty, Decimal(unit)) for pid, (unit, qty) in zip(products, lines, strict=True)],
        Decimal(tax_rate),
        Decimal("10.00"),
        Decimal("100.00"),
    )
    got = (answer["subtotal"], answer["tax"], answer["shipping_fee"], answer["total"])
    assert got == (expected.subtotal, expected.tax, expected.shipping_fee, expected.total)
