"""``bin/seed``: fill an empty database with demo data (a non-empty one only with ``--reset``).

Each kind of data is one :class:`Generator` in :data:`GENERATORS`, in dependency order: it
says which rows it would collide with, how ``--reset`` clears them, and how to make its rows.
Adding orders later means one more generator and its ``--orders`` option.  Everything runs in
one transaction, so a failed seed leaves the database as it was.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from jaan.cli.seeding.catalogue import MAX_CATEGORIES, write_demo_catalogue
from jaan.cli.seeding.customers import write_demo_customers
from jaan.cli.seeding.orders import write_demo_orders
from jaan.cli.seeding.purchasing import write_demo_purchasing
from jaan.cli.seeding.rows import StockBook
from jaan.db.embedded import EmbeddedPostgresError
from jaan.db.locate import database_dsn
from jaan.db.migrations import MigrationError, apply_migrations
from jaan.settings import Settings

DEFAULT_SEED = 1


class SeedRefused(Exception):
    """The database already holds data and --reset was not given."""


@dataclass
class Seeding:
    """What every generator gets: the transaction's cursor, the one random source, the options."""

    cur: Any  # a psycopg2 cursor
    rng: random.Random
    args: argparse.Namespace
    settings: Settings
    stock: StockBook  # every stock change, written through the ledger once all generators ran


@dataclass(frozen=True)
class Generator:
    name: str
    occupied_sql: str  # counts the rows that make the database "not empty" for this generator
    reset_sql: str  # clears what this generator fills (run in reverse order of GENERATORS)
    run: Callable[[Seeding], str]  # writes the rows; returns the line bin/seed prints


def _catalogue(seeding: Seeding) -> str:
    made = write_demo_catalogue(
        seeding.cur, seeding.rng, seeding.stock, categories=seeding.args.categories, products=seeding.args.products
    )
    return (
        f"{made.categories} categories, {made.products} products, {made.variants} variants,"
        f" {made.ledger_rows} opening-stock ledger rows"
    )


def _customers(seeding: Seeding) -> str:
    count, password = seeding.args.customers, seeding.args.customer_password
    write_demo_customers(seeding.cur, seeding.rng, count, password, seeding.settings.password_cost)
    return f"{count} customers customer1..{count}@example.com (password: {password!r})"


def _orders(seeding: Seeding) -> str:
    made = write_demo_orders(
        seeding.cur, seeding.rng, seeding.stock, orders=seeding.args.orders, invoices=seeding.args.invoices
    )
    return (
        f"{made.orders} orders with {made.lines} lines, {made.invoices} invoices,"
        f" {made.ledger_rows} sale and return ledger rows"
    )


def _purchasing(seeding: Seeding) -> str:
    made = write_demo_purchasing(seeding.cur, seeding.rng, seeding.stock, purchase_orders=seeding.args.purchase_orders)
    return (
        f"{made.suppliers} suppliers linked to {made.linked_products} products, {made.purchase_orders} purchase"
        f" orders with {made.lines} lines, {made.ledger_rows} receipt ledger rows"
    )


GENERATORS: tuple[Generator, ...] = (
    Generator(
        "catalogue",
        "SELECT count(*) FROM products",
        # CASCADE: whatever points at products (order lines, later) is demo data too.
        "TRUNCATE inventory_adjustments, product_variants, products, categories RESTART IDENTITY CASCADE",
        _catalogue,
    ),
    Generator(
        "customers",
        "SELECT count(*) FROM users WHERE role <> 'admin'",
        "DELETE FROM users WHERE role <> 'admin'",  # admins (and their sessions) are kept
        _customers,
    ),
    Generator(
        "orders",
        "SELECT count(*) FROM orders",
        "TRUNCATE invoice_items, invoices, order_items, orders, idempotency_keys RESTART IDENTITY CASCADE;"
        " ALTER SEQUENCE invoice_number_seq RESTART",
        _orders,
    ),
    Generator(
        "purchasing",
        "SELECT count(*) FROM suppliers",
        # Products stay (the catalogue's reset handles them); they only lose their supplier link.
        "UPDATE products SET supplier_id = NULL WHERE supplier_id IS NOT NULL; DELETE FROM purchase_orders;"
        " DELETE FROM suppliers; ALTER TABLE suppliers ALTER COLUMN id RESTART;"
        " ALTER SEQUENCE purchase_order_number_seq RESTART",
        _purchasing,
    ),
)


def seed(dsn: str, args: argparse.Namespace, settings: Settings) -> list[str]:
    """Apply the migrations, then run every generator in one transaction; the lines to print."""
    apply_migrations(dsn)
    lines: list[str] = []
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        if not args.reset:
            occupied = {}
            for generator in GENERATORS:
                cur.execute(generator.occupied_sql)
                occupied[generator.name] = cur.fetchone()[0]
            if any(occupied.values()):
                found = ", ".join(f"{name}: {n} rows" for name, n in occupied.items() if n)
                raise SeedRefused(f"the database is not empty ({found}); use --reset to replace its demo data")
        else:
            for generator in reversed(GENERATORS):
                cur.execute(generator.reset_sql)
        # Trigram index entries of updated products wait in the pending list until ANALYZE below
        # merges them in bulk, instead of being merged a few megabytes at a time.
        cur.execute("SET LOCAL gin_pending_list_limit = '64MB'")
        seeding = Seeding(cur, random.Random(args.seed), args, settings, StockBook())
        for generator in GENERATORS:
            lines.append(f"{generator.name}: {generator.run(seeding)}")
        seeding.stock.write(cur)
    # Fresh statistics now, not whenever autovacuum gets round to it: without them the planner
    # takes the new tables for nearly empty and skips the trigram and sort indexes. And vacuumed:
    # seeding writes each product's stock twice more, leaving ~2 dead rows per live one that every
    # trigram search rechecked (4x the candidates) until autovacuum's next round, a minute or more
    # after a load test has started on the fresh shop.
    with closing(psycopg2.connect(dsn)) as conn:
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute("VACUUM ANALYZE")
            # The products' trigram entries left pending above, merged now rather than by the
            # first request that writes a product.
            cur.execute(
                "SELECT gin_clean_pending_list(indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
                " JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'gin' AND i.indrelid = 'products'::regclass"
            )
    return lines


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="seed", description="Fill an empty database with demo data.")
    p.add_argument("--data-dir", type=Path, metavar="D", help="data directory (default: JAAN_DATA_DIR, else var/)")
    p.add_argument("--reset", action="store_true", help="replace the demo data of a non-empty database (admins stay)")
    p.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S", help="random seed (default: %(default)s)")
    p.add_argument("--products", type=_count, default=5000, metavar="N", help="products (default: %(default)s)")
    p.add_argument("--customers", type=_count, default=200, metavar="N", help="customers (default: %(default)s)")
    p.add_argument(
        "--orders", type=_count, default=2000, metavar="N", help="orders, ~3 lines each (default: %(default)s)"
    )
    p.add_argument(
        "--invoices", type=_count, default=800, metavar="N", help="invoices of shipped orders (default: %(default)s)"
    )
    p.add_argument(
        "--purchase-orders",
        type=_count,
        default=60,
        metavar="N",
        help="purchase orders to the demo suppliers (default: %(default)s)",
    )
    p.add_argument(
        "--categories",
        type=_count,
        default=20,
        metavar="N",
        help=f"categories, at most {MAX_CATEGORIES} (default: %(default)s)",
    )
    p.add_argument(
        "--customer-password",
        default="customer password",
        metavar="P",
        help="password of every demo customer (default: %(default)r)",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``bin/seed``: 0 when seeded, 1 when refused or failed, 2 for bad options."""
    args = parser().parse_args(argv)
    if not 1 <= args.categories <= MAX_CATEGORIES:
        parser().error(f"--categories must be between 1 and {MAX_CATEGORIES}")
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    try:
        data_dir = args.data_dir.expanduser().resolve() if args.data_dir else None
        settings = Settings.from_env(data_dir=data_dir)
        with database_dsn(settings, direct=True) as dsn:
            lines = seed(dsn, args, settings)
    except (SeedRefused, MigrationError, EmbeddedPostgresError, psycopg2.Error, ValueError) as exc:
        print(f"seed: {str(exc).strip()}", file=sys.stderr)
        return 1
    for line in lines:
        print(line)
    print(f"seeded in {time.monotonic() - started:.1f} s (seed {args.seed})")
    return 0
