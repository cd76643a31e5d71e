"""The demo suppliers and purchase orders ``bin/seed`` writes.

The suppliers are the ones the demo catalogue names in ``supplier_name``, and each product is linked
to its supplier by id.  Purchase orders run through every state; the delivered ones were received in
full and the shipped ones in part, each receipt a 'restock' through the stock ledger, so stock and
ledger agree as they would had the API received them.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jaan.cli.seeding.rows import StockBook
from jaan.cli.seeding.words import SUPPLIERS
from jaan.shop.inventory.ledger import Movement
from jaan.shop.purchasing.orders import PURCHASE_TAX_RATE

CENT = Decimal("0.01")
_STATUSES = ("draft", "pending", "confirmed", "shipped", "delivered", "delivered", "delivered", "cancelled")
_TYPES = ("wholesale_distributor", "local_vendor", "brand_manufacturer", "farm_producer", "cash_and_carry")


@dataclass(frozen=True)
class DemoPurchasing:
    suppliers: int
    linked_products: int
    purchase_orders: int
    lines: int
    ledger_rows: int


def _suppliers(cur: Any, rng: random.Random) -> dict[int, list[tuple[int, Decimal]]]:
    """Insert the demo suppliers and link the products; each supplier's (product id, unit cost)."""
    for n, name in enumerate(SUPPLIERS, start=1):
        slug = name.lower().replace(" ", "").replace(".", "")
        cur.execute(
            "INSERT INTO suppliers (name, contact_person, email, phone, payment_terms, default_lead_time_days,"
            " rating, supplier_type, is_primary, order_method, credit_days)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                name,
                f"Orders desk {n}",
                f"orders@{slug}.example.com",
                f"555-01{n:02d}",
                rng.choice(("Net 30", "Net 15", "COD")),
                rng.randint(2, 14),
                rng.randint(3, 5),
                rng.choice(_TYPES),
                n <= 3,
                rng.choice(("email", "phone", "portal")),
                rng.choice((15, 30, 45)),
            ),
        )
    cur.execute(
        "UPDATE products p SET supplier_id = s.id FROM suppliers s WHERE s.name = p.supplier_name"
        " RETURNING p.supplier_id, p.id, coalesce(p.cost_price, p.price)"
    )
    catalogue: dict[int, list[tuple[int, Decimal]]] = {}
    for supplier_id, product_id, cost in cur.fetchall():
        catalogue.setdefault(supplier_id, []).append((product_id, cost))
    for products in catalogue.values():
        products.sort()
    return catalogue


def write_demo_purchasing(cur: Any, rng: random.Random, stock: StockBook, *, purchase_orders: int) -> DemoPurchasing:
    """Write the suppliers, link products to them, and `purchase_orders` orders through psycopg2 cursor `cur`."""
    catalogue = _suppliers(cur, rng)
    cur.execute("SELECT value FROM settings WHERE key = 'purchase_tax_rate'")
    found = cur.fetchone()
    tax_rate = Decimal(found[0]) if found else PURCHASE_TAX_RATE
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    suppliers = sorted(catalogue)
    made = lines = 0
    receipts = 0
    for _ in range(purchase_orders if suppliers else 0):
        supplier = rng.choice(suppliers)
        products = rng.sample(catalogue[supplier], min(len(catalogue[supplier]), rng.randint(2, 6)))
        items = [(product, rng.randint(1, 10) * 12, cost) for product, cost in sorted(products)]
        subtotal = sum((cost * quantity for _, quantity, cost in items), Decimal(0)).quantize(CENT)
        tax = (subtotal * tax_rate).quantize(CENT, ROUND_HALF_UP)
        ordered = now - dt.timedelta(days=rng.randint(0, 120), seconds=rng.randrange(86400))
        status = rng.choice(_STATUSES)
        cur.execute(
            "INSERT INTO purchase_orders (po_number, supplier_id, order_date, expected_delivery_date, status,"
            " payment_status, subtotal, tax_amount, total_amount, actual_delivery_date, notes)"
            " VALUES ('PO' || to_char(%(at)s::timestamptz AT TIME ZONE 'UTC', 'YYYY') || '-'"
            " || padded(nextval('purchase_order_number_seq'), 5), %(supplier)s, %(at)s, %(expected)s, %(status)s,"
            " %(payment)s, %(subtotal)s, %(tax)s, %(total)s, %(delivered)s, '') RETURNING id, po_number",
            {
                "at": ordered,
                "supplier": supplier,
                "expected": (ordered + dt.timedelta(days=7)).date(),
                "status": status,
                "payment": "paid" if status == "delivered" else "unpaid",
                "subtotal": subtotal,
                "tax": tax,
                "total": subtotal + tax,
                "delivered": (ordered + dt.timedelta(days=rng.randint(2, 9))).date() if status == "delivered" else None,
            },
        )
        po_id, po_number = cur.fetchone()
        made += 1
        for product, quantity, cost in items:
            received = quantity if status == "delivered" else (quantity // 2 if status == "shipped" else 0)
            cur.execute(
                "INSERT INTO purchase_order_items (purchase_order_id, product_id, quantity, unit_price,"
                " received_quantity) VALUES (%s, %s, %s, %s, %s)",
                (po_id, product, quantity, cost, received),
            )
            lines += 1
            if received:
                at = min(now, ordered + dt.timedelta(days=3))
                stock.move(
                    Movement(product, received, "restock", f"PO {po_number}", at, reference_purchase_order_id=po_id)
                )
                receipts += 1
    linked = sum(len(products) for products in catalogue.values())
    return DemoPurchasing(len(SUPPLIERS), linked, made, lines, receipts)
