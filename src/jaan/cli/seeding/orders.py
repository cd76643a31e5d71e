"""The demo order book ``bin/seed`` writes: months of orders, their invoices, and the stock they moved.

Orders are made oldest first from the demo customers and products, priced like checkout
(:func:`jaan.shop.orders.pricing.price` with the store settings), and never sell stock that is
not there.  Every sale (and every return of a cancelled order) goes through the stock ledger,
oldest first, so the ledger, the counters and the orders agree.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jaan.cli.seeding.rows import StockBook, copy_rows
from jaan.shop.inventory.ledger import Movement
from jaan.shop.orders.pricing import PricedLine, price

HISTORY_DAYS = 180
PAYMENT_METHODS = ("cash_on_delivery", "bank_transfer", "card_on_delivery", "net_30")
CITIES = (
    ("Edison", "NJ", "08817"),
    ("Jersey City", "NJ", "07306"),
    ("Houston", "TX", "77036"),
    ("Chicago", "IL", "60659"),
    ("Fremont", "CA", "94538"),
    ("Queens", "NY", "11372"),
    ("Atlanta", "GA", "30340"),
    ("Dallas", "TX", "75243"),
    ("Seattle", "WA", "98104"),
)
STREETS = ("Oak Tree Rd", "Newark Ave", "Hillcroft Ave", "Devon Ave", "Fremont Blvd", "74th St", "Buford Hwy")


@dataclass(frozen=True)
class DemoOrders:
    orders: int
    lines: int
    invoices: int
    ledger_rows: int


def _status(age_days: float, rng: random.Random) -> str:
    """Older orders have moved further along; a few of every age were cancelled."""
    if rng.random() < 0.05:
        return "cancelled"
    if age_days > 14:
        return "delivered" if rng.random() < 0.9 else "shipped"
    if age_days > 4:
        return rng.choice(("processing", "shipped", "delivered"))
    return rng.choice(("pending", "pending", "processing"))


def write_demo_orders(cur: Any, rng: random.Random, stock: StockBook, *, orders: int, invoices: int) -> DemoOrders:
    """Write `orders` orders (about three lines each) and invoice up to `invoices` shipped ones."""
    cur.execute("SELECT id, full_name, email FROM users WHERE role = 'user' ORDER BY email")
    customers = cur.fetchall()
    cur.execute("SELECT id, name, sku, price FROM products WHERE archived_at IS NULL ORDER BY id")
    products = cur.fetchall()
    if not customers or not products or not orders:
        return DemoOrders(0, 0, 0, 0)
    cur.execute(
        "SELECT key, value FROM settings WHERE key IN ('tax_rate', 'default_shipping_fee', 'free_shipping_threshold')"
    )
    store = {key: Decimal(value) for key, value in cur.fetchall()}
    available = {row[0]: stock.level(row[0]) for row in products}
    now = dt.datetime.now(dt.UTC)
    moments = sorted(now - dt.timedelta(days=rng.uniform(0, HISTORY_DAYS)) for _ in range(orders))

    order_rows: list[tuple[Any, ...]] = []
    order_lines: list[list[PricedLine]] = []
    for moment in moments:
        lines = _pick_lines(rng, products, available)
        if not lines:
            continue
        totals = price(lines, store["tax_rate"], store["default_shipping_fee"], store["free_shipping_threshold"])
        user_id, name, email = rng.choice(customers)
        city, state, zip_code = rng.choice(CITIES)
        status = _status((now - moment).total_seconds() / 86400, rng)
        order_rows.append(
            (
                user_id,
                name,
                email,
                f"{rng.randrange(1, 9999)} {rng.choice(STREETS)}",
                city,
                state,
                zip_code,
                status,
                totals.subtotal,
                totals.tax,
                totals.shipping_fee,
                totals.total,
                rng.choice(PAYMENT_METHODS),
                moment,
            )
        )
        order_lines.append(lines)
    order_ids = _insert_orders(cur, order_rows)

    item_rows: list[tuple[Any, ...]] = []
    ledger_rows = 0
    for order_id, row, lines in zip(order_ids, order_rows, order_lines, strict=True):
        status, moment = row[7], row[13]
        for line in lines:
            item_rows.append(
                (
                    order_id,
                    line.product_id,
                    line.name,
                    line.sku,
                    line.quantity,
                    line.unit_price,
                    line.total_price,
                    moment,
                )
            )
            reason = f"order ORD-{order_id:05d}"
            stock.move(Movement(line.product_id, -line.quantity, "sale", reason, moment, order_id))
            ledger_rows += 1
            if status == "cancelled":
                stock.move(Movement(line.product_id, line.quantity, "return", f"{reason} cancelled", moment, order_id))
                ledger_rows += 1
    copy_rows(
        cur,
        "order_items",
        (
            "order_id",
            "product_id",
            "product_name",
            "product_sku",
            "quantity",
            "unit_price",
            "total_price",
            "created_at",
        ),
        item_rows,
    )
    invoiced = _invoice(cur, rng, order_ids, order_rows, invoices)
    return DemoOrders(len(order_ids), len(item_rows), invoiced, ledger_rows)


def _pick_lines(rng: random.Random, products: list[tuple[Any, ...]], stock: dict[int, int]) -> list[PricedLine]:
    """One to five lines (three on average) of products that still have the stock."""
    wanted = rng.choice((1, 2, 3, 3, 4, 5))
    lines: dict[int, PricedLine] = {}
    for _ in range(wanted * 4):
        if len(lines) == wanted:
            break
        product_id, name, sku, unit_price = rng.choice(products)
        quantity = rng.randint(1, 6)
        if product_id in lines or stock[product_id] < quantity:
            continue
        stock[product_id] -= quantity
        lines[product_id] = PricedLine(product_id, name, sku, quantity, unit_price)
    return list(lines.values())


def _insert_orders(cur: Any, rows: list[tuple[Any, ...]]) -> list[int]:
    columns: list[Any] = list(zip(*rows, strict=True)) if rows else [() for _ in range(14)]
    cur.execute(
        "INSERT INTO orders (user_id, customer_name, customer_email, shipping_street, shipping_city, shipping_state,"
        " shipping_zip, status, subtotal, tax, shipping_fee, total, payment_method, created_at, updated_at)"
        " SELECT u, n, e, st, c, s, z, status::order_status, sub, tax, ship, tot, pay, at, at"
        " FROM unnest(%s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::text[],"
        "  %s::text[], %s::numeric[], %s::numeric[], %s::numeric[], %s::numeric[], %s::text[], %s::timestamptz[])"
        "  WITH ORDINALITY AS o(u, n, e, st, c, s, z, status, sub, tax, ship, tot, pay, at, position)"
        " ORDER BY position RETURNING id",
        [list(column) for column in columns],
    )
    return sorted(row[0] for row in cur.fetchall())


def _invoice(cur: Any, rng: random.Random, order_ids: list[int], rows: list[tuple[Any, ...]], wanted: int) -> int:
    """Invoices for the oldest shipped and delivered orders: most delivered ones paid."""
    chosen = [(oid, row) for oid, row in zip(order_ids, rows, strict=True) if row[7] in ("shipped", "delivered")]
    chosen = chosen[:wanted]
    if not chosen:
        return 0
    ids, statuses, issued = [], [], []
    for order_id, row in chosen:
        ids.append(order_id)
        if row[7] == "delivered":
            statuses.append("paid" if rng.random() < 0.75 else "sent")
        else:
            statuses.append(rng.choice(("draft", "sent")))
        issued.append((row[13] + dt.timedelta(days=rng.randint(0, 3))).date())
    cur.execute(
        "WITH chosen AS (SELECT * FROM unnest(%s::int[], %s::text[], %s::date[]) AS c(order_id, status, issued)),"
        " made AS ("
        "  INSERT INTO invoices (invoice_number, order_id, user_id, customer_name, customer_email, billing_street,"
        "   billing_city, billing_state, billing_zip, billing_country, subtotal, tax, shipping_fee, total, amount_paid,"
        "   status, issue_date, due_date, paid_date, created_at)"
        "  SELECT 'INV-' || to_char(c.issued, 'YYYY') || '-' || padded(nextval('invoice_number_seq'), 5), o.id,"
        "   o.user_id, o.customer_name, o.customer_email, o.shipping_street, o.shipping_city, o.shipping_state,"
        "   o.shipping_zip, o.shipping_country, o.subtotal, o.tax, o.shipping_fee, o.total,"
        "   CASE WHEN c.status = 'paid' THEN o.total ELSE 0 END, c.status::invoice_status, c.issued,"
        "   c.issued + 30, CASE WHEN c.status = 'paid' THEN c.issued + 7 END, c.issued"
        "  FROM chosen c JOIN orders o ON o.id = c.order_id ORDER BY c.issued, o.id"
        "  RETURNING id, order_id)"
        " INSERT INTO invoice_items (invoice_id, product_id, description, quantity, unit_price, total_price)"
        " SELECT m.id, i.product_id, i.product_name, i.quantity, i.unit_price, i.total_price"
        " FROM made m JOIN order_items i ON i.order_id = m.order_id",
        (ids, statuses, issued),
    )
    return len(ids)
