"""The stock ledger: the only way a product's stock changes.

Each change is one atomic conditional ``UPDATE … RETURNING`` (no read-modify-write, so no
lost updates) and one ledger row with who, why, before and after, in the caller's transaction.
Stock never goes below zero unless the product or the store allows negative stock.
"""

from __future__ import annotations

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
        product = await cur.fetch_one(
            "SELECT name, stock_quantity FROM products WHERE id = %s", (product_id,)
        )
        if product is None:
            raise NotFound("Product not found")
        raise InsufficientStock(product_id, product["name"], product["stock_quantity"], -delta)
    after = int(row["stock_quantity"])
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
