"""The stock ledger: the only way a product's stock, or a variant's, changes.

Each change is one atomic conditional ``UPDATE … RETURNING`` (no read-modify-write, so no
lost updates) and one ledger row with who, why, before and after, in the caller's transaction.
Stock never goes below zero unless the product or the store allows negative stock.

A variant's ``on_hand_quantity`` is the part of its product's stock held as that variant: a
ledger row that names a variant moves both counters by its ``quantity_change`` (its before and
after are the product's).  So a product's stock is the sum of its ledger rows, and a variant's
on-hand the sum of the rows that name it.

Checkout's sale is the one change made in SQL of its own: the server-side ``place_order``
(migrations/0019) takes every line's stock in one statement with the same rules and ledger rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from jaan.db.pool import Cursor
from jaan.shop.accounts.sessions import CurrentUser
from jaan.web.errors import Conflict, NotFound

AdjustmentType = Literal["restock", "spoilage", "damage", "theft", "correction", "sale", "return"]


@dataclass(frozen=True)
class StockChange:
    product_id: int
    before: int
    after: int
    adjustment: dict[str, Any]  # the ledger row


class InsufficientStock(Conflict):
    def __init__(self, product_id: int, name: str, available: int, requested: int) -> None:
        super().__init__(f"Insufficient stock for {name}: {available} available, {requested} requested")
        self.product_id = product_id


async def change_stock(
    cur: Cursor,
    product_id: int,
    delta: int,
    adjustment_type: AdjustmentType,
    *,
    actor: CurrentUser | None,
    reason: str | None = None,
    notes: str | None = None,
    variant_id: int | None = None,
    reference_order_id: int | None = None,
    reference_purchase_order_id: int | None = None,
    allow_negative: bool = False,
) -> StockChange:
    """Add `delta` (signed) to a product's stock and record it; 409 if it would go below zero."""
    if delta == 0:
        raise ValueError("a stock change of zero records nothing")
    row = await cur.fetch_one(
        "UPDATE products SET stock_quantity = stock_quantity + %(delta)s,"
        " last_adjustment_reason = %(type)s"
        " WHERE id = %(id)s AND (stock_quantity + %(delta)s >= 0 OR allow_negative_stock OR %(allow)s)"
        " RETURNING stock_quantity",
        {"delta": delta, "type": adjustment_type, "id": product_id, "allow": allow_negative},
    )
    if row is None:
        product = await cur.fetch_one("SELECT name, stock_quantity FROM products WHERE id = %s", (product_id,))
        if product is None:
            raise NotFound("Product not found")
        raise InsufficientStock(product_id, product["name"], product["stock_quantity"], -delta)
    after = int(row["stock_quantity"])
    if variant_id is not None:
        await _move_variant_stock(cur, product_id, variant_id, delta, allow_negative)
    adjustment = await cur.fetch_one(
        "INSERT INTO inventory_adjustments (product_id, variant_id, adjustment_type, quantity_change,"
        " quantity_before, quantity_after, reason, notes, adjusted_by_user_id, adjusted_by_name,"
        " reference_order_id, reference_purchase_order_id)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s) RETURNING *",
        (
            product_id,
            variant_id,
            adjustment_type,
            delta,
            after - delta,
            after,
            reason,
            notes,
            actor.id if actor else None,
            (actor.full_name or actor.email) if actor else None,
            reference_order_id,
            reference_purchase_order_id,
        ),
    )
    assert adjustment is not None
    return StockChange(product_id, after - delta, after, adjustment)


async def _move_variant_stock(cur: Cursor, product_id: int, variant_id: int, delta: int, allow_negative: bool) -> None:
    """A variant's on-hand is the part of its product's stock held as that variant: it moves with it."""
    row = await cur.fetch_one(
        "UPDATE product_variants SET on_hand_quantity = on_hand_quantity + %(delta)s"
        " WHERE id = %(variant)s AND product_id = %(product)s AND (on_hand_quantity + %(delta)s >= 0 OR %(allow)s)"
        " RETURNING on_hand_quantity",
        {"delta": delta, "variant": variant_id, "product": product_id, "allow": allow_negative},
    )
    if row is None:  # the caller's transaction rolls the product's change back with this error
        variant = await cur.fetch_one(
            "SELECT variant_name, on_hand_quantity FROM product_variants WHERE id = %s AND product_id = %s",
            (variant_id, product_id),
        )
        if variant is None:
            raise NotFound("Variant not found")
        raise InsufficientStock(product_id, variant["variant_name"], variant["on_hand_quantity"], -delta)


@dataclass(frozen=True)
class Movement:
    """One stock change of a batch (:func:`movements_statement`)."""

    product_id: int
    delta: int
    adjustment_type: AdjustmentType
    reason: str | None = None
    at: dt.datetime | None = None  # when it happened (None: now)
    reference_order_id: int | None = None
    reference_purchase_order_id: int | None = None
    variant_id: int | None = None  # moves that variant's on-hand too (part of the product's stock)


# Many changes in one statement: each product's stock (and each named variant's on-hand) moves
# once by the sum of its changes, only if the result is not below zero unless allowed, and each
# change gets its ledger row, its before/after the product's, counted in the batch's order.
_MOVEMENTS_SQL = """
WITH moves AS (
    SELECT * FROM unnest(%(ids)s::int[], %(deltas)s::int[], %(types)s::text[], %(reasons)s::text[],
                         %(ats)s::timestamptz[], %(orders)s::int[], %(purchase_orders)s::int[], %(variants)s::int[])
        WITH ORDINALITY AS m(product_id, delta, type, reason, at, order_id, purchase_order_id, variant_id, position)
),
moved_variants AS (
    UPDATE product_variants v SET on_hand_quantity = v.on_hand_quantity + t.delta
    FROM (SELECT variant_id, product_id, sum(delta)::int AS delta FROM moves WHERE variant_id IS NOT NULL
          GROUP BY variant_id, product_id) t
    WHERE v.id = t.variant_id AND v.product_id = t.product_id AND (v.on_hand_quantity + t.delta >= 0 OR %(allow)s)
    RETURNING v.id
),
totals AS (
    SELECT product_id, sum(delta)::int AS delta, (array_agg(type ORDER BY position DESC))[1] AS last_type
    FROM moves GROUP BY product_id
),
moved AS (
    UPDATE products p SET stock_quantity = p.stock_quantity + t.delta, last_adjustment_reason = t.last_type
    FROM totals t
    WHERE p.id = t.product_id AND (p.stock_quantity + t.delta >= 0 OR p.allow_negative_stock OR %(allow)s)
    RETURNING p.id, p.stock_quantity - t.delta AS start
)
INSERT INTO inventory_adjustments (product_id, variant_id, adjustment_type, quantity_change, quantity_before,
    quantity_after, reason, adjusted_by_user_id, adjusted_by_name, reference_order_id, reference_purchase_order_id,
    created_at)
SELECT m.product_id, m.variant_id, m.type, m.delta, mv.start + sum(m.delta) OVER running - m.delta,
       mv.start + sum(m.delta) OVER running, m.reason, %(actor)s, %(actor_name)s, m.order_id, m.purchase_order_id,
       coalesce(m.at, now())
FROM moves m JOIN moved mv ON mv.id = m.product_id
WHERE m.variant_id IS NULL OR m.variant_id IN (SELECT id FROM moved_variants)
WINDOW running AS (PARTITION BY m.product_id ORDER BY m.position)
ORDER BY m.position
"""


def movements_statement(
    movements: Sequence[Movement],
    *,
    actor_id: Any = None,
    actor_name: str | None = None,
    allow_negative: bool = False,
) -> tuple[str, dict[str, Any]]:
    """The one statement that applies a batch of stock changes with their ledger rows.

    Its row count is the number of ledger rows written: fewer than ``len(movements)`` means a
    product or variant is missing or would go below zero, and the caller must roll back.  ``bin/seed``
    (psycopg2) writes every demo stock change through it.
    """
    return _MOVEMENTS_SQL, {
        "ids": [m.product_id for m in movements],
        "deltas": [m.delta for m in movements],
        "types": [m.adjustment_type for m in movements],
        "reasons": [m.reason for m in movements],
        "ats": [m.at for m in movements],
        "orders": [m.reference_order_id for m in movements],
        "purchase_orders": [m.reference_purchase_order_id for m in movements],
        "variants": [m.variant_id for m in movements],
        "allow": allow_negative,
        "actor": actor_id,
        "actor_name": actor_name,
    }
