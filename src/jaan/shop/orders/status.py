"""The order lifecycle (§5.2, recommended rules) and what each change does, in one transaction.

pending → processing | cancelled; processing → shipped | cancelled; shipped → delivered;
delivered and cancelled are final.  Cancelling returns each line's stock once through the
ledger (and cancels an unpaid invoice); shipping or delivering issues the order's invoice if it
has none (delivering also sends a draft one).
"""

from __future__ import annotations

from typing import Any

from jaan.db.pool import Cursor, Database
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.inventory.ledger import change_stock
from jaan.shop.invoices.issue import invoice_for_order
from jaan.web.errors import Conflict, NotFound

STATUSES = ("pending", "processing", "shipped", "delivered", "cancelled")
ALLOWED: dict[str, frozenset[str]] = {
    "pending": frozenset({"processing", "cancelled"}),
    "processing": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}


async def change_order_status(
    database: Database, order_id: int, new: str, tracking_number: str | None, actor: CurrentUser
) -> dict[str, Any]:
    async with database.transaction() as cur:
        order = await cur.fetch_one(
            "SELECT id, order_number, status FROM orders WHERE id = %s FOR NO KEY UPDATE", (order_id,)
        )
        if order is None:
            raise NotFound("Order not found")
        old = str(order["status"])
        if new not in ALLOWED[old]:
            raise Conflict(f"An order cannot go from {old} to {new}")
        updated = await cur.fetch_one(
            "UPDATE orders SET status = %s, tracking_number = coalesce(%s, tracking_number) WHERE id = %s RETURNING *",
            (new, tracking_number, order_id),
        )
        assert updated is not None
        if new == "cancelled":
            await _cancel(cur, order, actor)
        elif new in ("shipped", "delivered"):
            invoice, _ = await invoice_for_order(cur, order_id, status="sent" if new == "delivered" else "draft")
            if new == "delivered" and invoice["status"] == "draft":
                await cur.execute("UPDATE invoices SET status = 'sent' WHERE id = %s", (invoice["id"],))
        await record_activity(
            cur,
            type="order",
            action="Order Status Changed",
            actor=actor,
            description=f"{order['order_number']}: {old} → {new}",
            entity_type="order",
            entity_id=order_id,
            details={"from": old, "to": new, "tracking_number": tracking_number},
        )
    return updated


async def _cancel(cur: Cursor, order: dict[str, Any], actor: CurrentUser) -> None:
    invoice = await cur.fetch_one(
        "SELECT id, amount_paid FROM invoices WHERE order_id = %s FOR NO KEY UPDATE", (order["id"],)
    )
    if invoice is not None:
        if invoice["amount_paid"] > 0:
            raise Conflict("The order's invoice has payments; refund them before cancelling")
        await cur.execute("UPDATE invoices SET status = 'cancelled' WHERE id = %s", (invoice["id"],))
    lines = await cur.fetch_all(
        "SELECT product_id, sum(quantity) AS quantity FROM order_items WHERE order_id = %s"
        " AND product_id IS NOT NULL GROUP BY product_id ORDER BY product_id",
        (order["id"],),
    )
    for line in lines:  # in product order, like every sale, so two cancellations never deadlock
        await change_stock(
            cur,
            line["product_id"],
            int(line["quantity"]),
            "return",
            actor=actor,
            reason=f"order {order['order_number']} cancelled",
            reference_order_id=order["id"],
            allow_negative=True,
        )
