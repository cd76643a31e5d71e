"""The demo catalogue ``bin/seed`` writes: a believable grocery wholesaler's shelves.

Everything comes from one ``random.Random``, so a seed gives the same names, prices and stock
every time.  Rows go in with COPY (thousands per second) with no stock; each product's opening
stock is a 'restock' in the stock book (:class:`~jaan.cli.seeding.rows.StockBook`), as if it had
been delivered, so the ledger and the counters agree.  Every product has a UPC-A code and an EAN-13 barcode (in-store
prefix 200, unique by product number), both with valid check digits.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from jaan.cli.seeding.rows import StockBook, copy_rows
from jaan.cli.seeding.words import AISLES, BLURBS, BRANDS, DESCRIPTORS, MAX_CATEGORIES, SUPPLIERS
from jaan.shop.catalogue.categories import PLACEHOLDER_IMAGE
from jaan.shop.catalogue.slugs import first_free, slugify
from jaan.shop.inventory.ledger import Movement

CENT = Decimal("0.01")
__all__ = ["MAX_CATEGORIES", "DemoCatalogue", "ean13", "write_demo_catalogue"]


@dataclass(frozen=True)
class DemoCatalogue:
    categories: int
    products: int
    variants: int
    ledger_rows: int


def ean13(first_twelve: str) -> str:
    """An EAN-13: twelve digits and their check digit (weights 1, 3, 1, 3, … from the left)."""
    total = sum(int(digit) * (3 if position % 2 else 1) for position, digit in enumerate(first_twelve))
    return first_twelve + str((10 - total % 10) % 10)


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
    "barcode",
    "category_id",
    "images",
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


def write_demo_catalogue(
    cur: Any, rng: random.Random, stock: StockBook, *, categories: int, products: int
) -> DemoCatalogue:
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
    stocks: list[int] = []
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
        stocks.append(_stock(rng))
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
                ean13(f"200{n:09d}"),
                category_ids.get(aisle.slug),
                "{" + PLACEHOLDER_IMAGE + "}",
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
    on_hand: dict[str, int] = {}  # variant sku -> opening units
    variants: list[tuple[Any, ...]] = []
    for sku, price, item in with_variants:
        for order, (label, factor) in enumerate(
            rng.sample((("Small", "0.6"), ("Medium", "1"), ("Large", "1.8"), ("Bulk", "3.2")), rng.randint(2, 4))
        ):
            variant_price = _shelf_price(price * Decimal(factor))
            on_hand[f"{sku}-{label[0]}"] = rng.randint(0, 200)
            variants.append(
                (
                    product_ids[sku],
                    f"{label} {item}",
                    "size",
                    f"{sku}-{label[0]}",
                    variant_price,
                    (variant_price * Decimal("0.7")).quantize(CENT),
                    0,  # on hand: arrives through the stock book below
                    None,
                    "kg",
                    json.dumps({"pack": label.lower()}),
                    order,
                )
            )
    copy_rows(cur, "product_variants", _VARIANT_COLUMNS, variants)
    cur.execute(
        "SELECT product_id, id, sku, variant_name FROM product_variants WHERE product_id = ANY(%s) ORDER BY id",
        (list(product_ids.values()),),
    )
    variants_of: dict[int, list[tuple[int, str, str]]] = {}
    for product_id, variant_id, variant_sku, variant_name in cur.fetchall():
        variants_of.setdefault(product_id, []).append((variant_id, variant_sku, variant_name))
    # Each product's unassigned units, then each variant's on-hand (part of the product's stock).
    opening = 0
    for row, units in zip(rows, stocks, strict=True):
        product_id, at = product_ids[row[6]], row[-1]
        if units:
            stock.move(Movement(product_id, units, "restock", reason="initial stock", at=at))
            opening += 1
        for variant_id, variant_sku, variant_name in variants_of.get(product_id, []):
            if on_hand[variant_sku]:
                reason = f"initial stock: {variant_name}"
                stock.move(Movement(product_id, on_hand[variant_sku], "restock", reason, at, variant_id=variant_id))
                opening += 1
    return DemoCatalogue(len(aisles), len(rows), len(variants), opening)
