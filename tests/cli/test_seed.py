"""``bin/seed`` as a real process against a fresh database (migrated already, but for the first test)."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2

from jaan.shop.accounts.passwords import verify_password_sync
from jaan.shop.catalogue.forms import upc_a_is_valid
from tests.conftest import TEST_PASSWORD_COST

ROOT = Path(__file__).resolve().parents[2]
SMALL = ("--products", "300", "--customers", "20", "--orders", "60", "--invoices", "20")


def run_seed(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": dsn, "JAAN_PASSWORD_COST": str(TEST_PASSWORD_COST)}
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "seed"), *args], env=env, capture_output=True, text=True, timeout=120
    )


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def test_seed_fills_an_empty_database_and_says_what_it_made(empty_database):
    result = run_seed(empty_database, *SMALL, "--categories", "12")
    assert result.returncode == 0, result.stderr
    assert "12 categories, 300 products" in result.stdout and "20 customers" in result.stdout
    assert query(empty_database, "SELECT count(*) FROM categories") == [(12,)]
    assert query(empty_database, "SELECT count(*), count(DISTINCT slug), count(DISTINCT sku) FROM products") == [
        (300, 300, 300)
    ]
    # Some sold out, some low, a few with variants, some on offer.
    (statuses,) = query(empty_database, "SELECT array_agg(DISTINCT stock_status) FROM products")[0]
    assert set(statuses) == {"in_stock", "low_stock", "out_of_stock"}
    assert query(empty_database, "SELECT count(*) > 0 FROM products WHERE compare_price > price") == [(True,)]
    assert query(empty_database, "SELECT count(*) > 0 FROM product_variants") == [(True,)]
    # Every opening stock is in the ledger.
    assert query(
        empty_database,
        "SELECT count(*) FROM products p WHERE stock_quantity <> coalesce((SELECT sum(quantity_change)"
        " FROM inventory_adjustments a WHERE a.product_id = p.id), 0)",
    ) == [(0,)]
    # And every variant's on-hand, which is part of its product's stock.
    assert query(
        empty_database,
        "SELECT count(*) FROM product_variants v WHERE on_hand_quantity <> coalesce((SELECT sum(quantity_change)"
        " FROM inventory_adjustments a WHERE a.variant_id = v.id), 0)",
    ) == [(0,)]
    assert query(
        empty_database,
        "SELECT count(*) FILTER (WHERE on_hand_quantity > 0) > 0 FROM product_variants",
    ) == [(True,)]
    upcs = [upc for (upc,) in query(empty_database, "SELECT upc_code FROM products")]
    assert all(upc_a_is_valid(upc) for upc in upcs)
    # Every product has a barcode the catalogue shows: a unique EAN-13 with a valid check digit.
    barcodes = [code for (code,) in query(empty_database, "SELECT barcode FROM products")]
    assert len(set(barcodes)) == 300 and all(ean13_is_valid(code) for code in barcodes)
    # Vacuumed and analysed as it ends: the stock written after the products leaves no dead rows behind.
    assert query(
        empty_database,
        "SELECT last_vacuum IS NOT NULL, last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'products'",
    ) == [(True, True)]


def ean13_is_valid(code: str | None) -> bool:
    if code is None or len(code) != 13 or not code.isdigit():
        return False
    weighted = sum(int(digit) * (1, 3)[position % 2] for position, digit in enumerate(code[:12]))
    return (weighted + int(code[12])) % 10 == 0


def test_ean13_check_digits_are_the_standards():
    from jaan.cli.seeding.catalogue import ean13

    assert ean13("400638133393") == "4006381333931"  # a published example
    assert ean13("200000000001") == "2000000000015"
    assert not ean13_is_valid("4006381333932")


def test_the_same_seed_makes_the_same_catalogue(shop_database):
    assert run_seed(shop_database, *SMALL, "--seed", "7").returncode == 0
    first = query(shop_database, "SELECT name, sku, price, stock_quantity FROM products ORDER BY sku")
    again = run_seed(shop_database, *SMALL, "--seed", "7", "--reset")
    assert again.returncode == 0, again.stderr
    assert query(shop_database, "SELECT name, sku, price, stock_quantity FROM products ORDER BY sku") == first
    other = run_seed(shop_database, *SMALL, "--seed", "8", "--reset")
    assert other.returncode == 0
    assert query(shop_database, "SELECT name, sku, price, stock_quantity FROM products ORDER BY sku") != first


def test_seed_refuses_a_database_with_data_unless_reset(shop_database):
    assert run_seed(shop_database, *SMALL).returncode == 0
    refused = run_seed(shop_database, *SMALL)
    assert refused.returncode == 1
    assert "not empty" in refused.stderr and "--reset" in refused.stderr
    assert query(shop_database, "SELECT count(*) FROM products") == [(300,)]


def test_reset_keeps_the_admins(shop_database):
    assert run_seed(shop_database, "--products", "10", "--customers", "3").returncode == 0
    query(
        shop_database,
        "INSERT INTO users (email, password_hash, role) VALUES ('boss@example.com', 'x', 'admin') RETURNING id",
    )
    result = run_seed(shop_database, "--products", "10", "--customers", "5", "--reset")
    assert result.returncode == 0, result.stderr
    assert query(shop_database, "SELECT email FROM users WHERE role = 'admin'") == [("boss@example.com",)]
    assert query(shop_database, "SELECT count(*) FROM users WHERE role = 'user'") == [(5,)]


def test_seeded_customers_sign_in_with_the_given_password(shop_database):
    result = run_seed(shop_database, "--products", "5", "--customers", "3", "--customer-password", "open sesame")
    assert result.returncode == 0, result.stderr
    rows = query(shop_database, "SELECT email, password_hash FROM users ORDER BY email")
    assert [email for email, _ in rows] == [f"customer{n}@example.com" for n in (1, 2, 3)]
    assert len({password_hash for _, password_hash in rows}) == 1  # hashed once
    assert verify_password_sync("open sesame", rows[0][1])
    assert not verify_password_sync("customer password", rows[0][1])


def test_bad_options_are_refused(empty_database):
    assert run_seed(empty_database, "--products", "-1").returncode == 2
    assert run_seed(empty_database, "--categories", "999").returncode == 2


def test_seeded_orders_agree_with_stock_the_ledger_and_invoices(shop_database):
    result = run_seed(shop_database, "--products", "200", "--customers", "10", "--orders", "120", "--invoices", "40")
    assert result.returncode == 0, result.stderr
    assert "120 orders" in result.stdout and "40 invoices" in result.stdout
    # Every product's counter is the sum of its ledger, and none went below zero.
    assert query(
        shop_database,
        "SELECT count(*) FROM products p WHERE p.stock_quantity <> (SELECT coalesce(sum(quantity_change), 0)"
        " FROM inventory_adjustments a WHERE a.product_id = p.id) OR p.stock_quantity < 0",
    ) == [(0,)]
    # Each product's ledger is one unbroken chain: every change starts where the one before ended.
    assert query(
        shop_database,
        "SELECT count(*) FROM (SELECT quantity_before, lag(quantity_after) OVER (PARTITION BY product_id"
        " ORDER BY id) AS previous FROM inventory_adjustments) chain WHERE quantity_before <> coalesce(previous, 0)",
    ) == [(0,)]
    # Order totals add up from their lines; an invoice's total is its order's.
    assert query(
        shop_database,
        "SELECT count(*) FROM orders o WHERE o.subtotal <> (SELECT sum(total_price) FROM order_items i"
        " WHERE i.order_id = o.id)",
    ) == [(0,)]
    assert query(
        shop_database, "SELECT count(*) FROM invoices v JOIN orders o ON o.id = v.order_id WHERE v.total <> o.total"
    ) == [(0,)]
    assert query(shop_database, "SELECT count(DISTINCT invoice_number) FROM invoices") == [(40,)]
