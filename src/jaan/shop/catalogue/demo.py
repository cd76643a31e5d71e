"""The demo catalogue ``bin/seed`` writes: a believable grocery wholesaler's shelves.

Everything comes from one ``random.Random``, so a seed gives the same names, prices and stock
every time.  Rows go in with COPY (thousands per second); each product's opening stock gets
its 'restock' ledger row, as if it had been delivered, so the ledger and the counters agree.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jaan.shop.catalogue.categories import PLACEHOLDER_IMAGE
from jaan.shop.catalogue.demo_words import AISLES, BLURBS, BRANDS, DESCRIPTORS, MAX_CATEGORIES, SUPPLIERS
from jaan.shop.catalogue.slugs import first_free, slugify

CENT = Decimal("0.01")
__all__ = ["MAX_CATEGORIES", "DemoCatalogue", "copy_rows", "write_demo_catalogue"]


@dataclass(frozen=True)
class DemoCatalogue:
    categories: int
    products: int
    variants: int
    ledger_rows: int


def _copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    text = str(value)
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def copy_rows(cur: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """Bulk-insert `rows` with COPY (a psycopg2 cursor); table and columns are ours, never input."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_copy_text(value) for value in row) + "\n")
    buffer.seek(0)
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def _upc_a(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(11)]
    check = (10 - (3 * sum(digits[0::2]) + sum(digits[1::2])) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def _shelf_price(value: Decimal) -> Decimal:
    """A price as shelves show it: whole units ending .49 or .99."""
    whole = int(value)
    return Decimal(whole) + (Decimal("0.49") if value - whole < Decimal("0.5") else Decimal("0.99"))


def _stock(rng: random.Random) -> int:
    roll = rng.random()
    if roll < 0.07:
        return 0  # sold out
    if roll < 0.17:
        return rng.randint(1, 10)  # at or below the default low-stock threshold
    return rng.randint(11, 600)


_PRODUCT_COLUMNS = (
    "name",
    "slug",
    "description",
    "price",
    "compare_price",
    "cost_price",
    "sku",
    "upc_code",
    "category_id",
    "images",
    "stock_quantity",
    "last_adjustment_reason",
    "unit",
    "weight",
    "is_featured",
    "is_new",
    "is_taxable",
    "tax_category",
    "supplier_name",
    "case_size",
    "lead_time_days",
    "has_variants",
    "created_at",
)
_VARIANT_COLUMNS = (
    "product_id",
    "variant_name",
    "variant_type",
    "sku",
    "price",
    "cost_price",
    "on_hand_quantity",
    "weight",
    "weight_unit",
    "attributes",
    "sort_order",
)

_CATEGORY_SQL = "INSERT INTO categories (name, slug, description, image) VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
# A variant's on-hand is part of its product's stock: the product's counter takes it in, and the
# opening ledger has a row per variant (naming it) besides the product's unassigned units.
_VARIANT_STOCK_SQL = """
UPDATE products p SET stock_quantity = p.stock_quantity + v.total
FROM (SELECT product_id, sum(on_hand_quantity)::int AS total FROM product_variants GROUP BY product_id) v
WHERE p.id = v.product_id AND p.sku = ANY(%(skus)s) AND v.total > 0
"""
_LEDGER_SQL = """
INSERT INTO inventory_adjustments
    (product_id, variant_id, adjustment_type, quantity_change, quantity_before, quantity_after, reason,
     adjusted_by_name, created_at)
SELECT product_id, variant_id, 'restock', quantity, running - quantity, running, reason, 'bin/seed', created_at
FROM (
    SELECT *, sum(quantity) OVER (PARTITION BY product_id ORDER BY variant_id NULLS FIRST) AS running
    FROM (
        SELECT p.id AS product_id, NULL::int AS variant_id, p.created_at, 'initial stock' AS reason,
               p.stock_quantity - coalesce((SELECT sum(on_hand_quantity) FROM product_variants v
                                            WHERE v.product_id = p.id), 0)::int AS quantity
        FROM products p WHERE p.sku = ANY(%(skus)s)
        UNION ALL
        SELECT v.product_id, v.id, p.created_at, 'initial stock: ' || v.variant_name, v.on_hand_quantity
        FROM product_variants v JOIN products p ON p.id = v.product_id WHERE p.sku = ANY(%(skus)s)
    ) opening
) counted
WHERE quantity > 0
"""


def write_demo_catalogue(cur: Any, rng: random.Random, *, categories: int, products: int) -> DemoCatalogue:
    """Write `categories` categories (the migration's eight first) and `products` products with
    variants on about one in ten, opening stock and its ledger rows, through psycopg2 cursor `cur`."""
    aisles = AISLES[:categories]
    for aisle in aisles:
        description = f"{aisle.name}: " + ", ".join(aisle.items[:4]).lower() + " and more."
        cur.execute(_CATEGORY_SQL, (aisle.name, aisle.slug, description, PLACEHOLDER_IMAGE))
    cur.execute("SELECT id, slug FROM categories WHERE slug = ANY(%s)", ([a.slug for a in aisles],))
    category_ids = {slug: id_ for id_, slug in cur.fetchall()}

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    cur.execute("SELECT slug FROM products")
    slugs: set[str] = {slug for (slug,) in cur.fetchall()}
    rows: list[tuple[Any, ...]] = []
    with_variants: list[tuple[str, Decimal, str]] = []
    for n in range(1, products + 1):
        aisle = rng.choice(aisles) if aisles else rng.choice(AISLES)
        size_index = rng.randrange(len(aisle.sizes))
        size, unit, weight = aisle.sizes[size_index]
        brand, descriptor, item = rng.choice(BRANDS), rng.choice(DESCRIPTORS), rng.choice(aisle.items)
        name = " ".join(part for part in (brand, descriptor, item, size) if part)
        slug = first_free(slugify(name), slugs)
        slugs.add(slug)
        base = Decimal(str(rng.uniform(float(aisle.low), float(aisle.high))))
        price = _shelf_price(base * (1 + size_index * Decimal("1.6")))
        compare = (price * Decimal(str(rng.uniform(1.1, 1.35)))).quantize(CENT) if rng.random() < 0.2 else None
        cost = (price * Decimal(str(rng.uniform(0.55, 0.8)))).quantize(CENT, ROUND_HALF_UP)
        sku = f"JC-{n:06d}"
        has_variants = rng.random() < 0.1
        if has_variants:
            with_variants.append((sku, price, item))
        stock = _stock(rng)
        rows.append(
            (
                name,
                slug,
                f"{brand} {descriptor.lower()} {item.lower()}, {size}. {rng.choice(BLURBS)}".replace("  ", " "),
                price,
                compare,
                cost,
                sku,
                _upc_a(rng),
                category_ids.get(aisle.slug),
                "{" + PLACEHOLDER_IMAGE + "}",
                stock,
                "restock" if stock else None,
                unit,
                weight,
                rng.random() < 0.06,
                rng.random() < 0.1,
                aisle.taxable,
                aisle.tax_category,
                rng.choice(SUPPLIERS),
                rng.choice((6, 10, 12, 24)),
                rng.randint(2, 21),
                has_variants,
                now - dt.timedelta(seconds=rng.randrange(365 * 86400)),
            )
        )
    copy_rows(cur, "products", _PRODUCT_COLUMNS, rows)

    skus = [row[6] for row in rows]
    cur.execute("SELECT sku, id FROM products WHERE sku = ANY(%s)", (skus,))
    product_ids = dict(cur.fetchall())
    variants: list[tuple[Any, ...]] = []
    for sku, price, item in with_variants:
        for order, (label, factor) in enumerate(
            rng.sample((("Small", "0.6"), ("Medium", "1"), ("Large", "1.8"), ("Bulk", "3.2")), rng.randint(2, 4))
        ):
            variant_price = _shelf_price(price * Decimal(factor))
            variants.append(
                (
                    product_ids[sku],
                    f"{label} {item}",
                    "size",
                    f"{sku}-{label[0]}",
                    variant_price,
                    (variant_price * Decimal("0.7")).quantize(CENT),
                    rng.randint(0, 200),
                    None,
                    "kg",
                    json.dumps({"pack": label.lower()}),
                    order,
                )
            )
    copy_rows(cur, "product_variants", _VARIANT_COLUMNS, variants)
    cur.execute(_VARIANT_STOCK_SQL, {"skus": skus})
    cur.execute(_LEDGER_SQL, {"skus": skus})
    return DemoCatalogue(len(aisles), len(rows), len(variants), cur.rowcount)
