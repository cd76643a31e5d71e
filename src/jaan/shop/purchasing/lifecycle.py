"""A purchase order's life (§5.4): its states, and receiving its lines into stock.

draft → pending (sent to the supplier) → confirmed → shipped → delivered; cancelled from any open
state, but not once anything has been received (the stock is already on the shelves).  Receipts are
accepted while pending, confirmed or shipped; each adds the quantity received *now* to the line and,
through the ledger, to the product's stock.  The receipt that completes every line delivers the order
(status ``delivered`` and ``actual_delivery_date`` today, in the store's time zone).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from jaan.db.pool import Cursor, Row
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.inventory.ledger import change_stock
from jaan.shop.purchasing.orders import purchase_order, store_timezone
from jaan.shop.store_settings import read_settings
from jaan.web.errors import Conflict, InvalidInput, NotFound

ALLOWED: dict[str, frozenset[str]] = {
    "draft": frozenset({"pending", "cancelled"}),
    "pending": frozenset({"confirmed", "cancelled"}),
    "confirmed": frozenset({"shipped", "cancelled"}),
    "shipped": frozenset({"delivered", "cancelled"}),
    "delivered": frozenset(),
    "cancelled": frozenset(),
}
RECEIVING = frozenset({"pending", "confirmed", "shipped"})
_TODAY = "(now() AT TIME ZONE %(tz)s)::date"


async def _locked(cur: Cursor, po_id: int) -> Row:
    # FOR NO KEY UPDATE: the ledger rows that reference this order (FOR KEY SHARE) do not wait on it.
    po = await cur.fetch_one("SELECT * FROM purchase_orders WHERE id = %s FOR NO KEY UPDATE", (po_id,))
    if po is None:
        raise NotFound("Purchase order not found")
    return po


async def change_status(cur: Cursor, po_id: int, change: dict[str, Any], actor: CurrentUser) -> Row:
    """Apply #54: a legal status move (409 otherwise), and payment status or delivery date if given."""
    po = await _locked(cur, po_id)
    old, new = po["status"], change["status"]
    extras = {key: change[key] for key in ("payment_status", "actual_delivery_date") if key in change}
    if new == old and not extras:
        raise Conflict(f"The purchase order is already {old}")
    if new != old and new not in ALLOWED[old]:
        raise Conflict(f"A purchase order cannot go from {old} to {new}")
    received = await cur.fetch_one(
        "SELECT coalesce(sum(received_quantity), 0) AS units, bool_and(received_quantity >= quantity) AS complete"
        " FROM purchase_order_items WHERE purchase_order_id = %s",
        (po_id,),
    )
    assert received is not None
    if new == "cancelled" and new != old and received["units"] > 0:
        raise Conflict("Items of this purchase order were received; it can no longer be cancelled")
    if new == "delivered" and new != old and not received["complete"]:
        raise Conflict("A purchase order is delivered when all its items are received (receive-items)")
    delivered_on = "coalesce(%(date)s, actual_delivery_date, " + _TODAY + ")" if new == "delivered" else "%(date)s"
    updated = await cur.fetch_one(
        "UPDATE purchase_orders SET status = %(status)s, payment_status = coalesce(%(payment)s, payment_status),"
        f" actual_delivery_date = CASE WHEN %(set_date)s OR %(status)s = 'delivered' THEN {delivered_on}"
        " ELSE actual_delivery_date END WHERE id = %(id)s RETURNING *",
        {
            "status": new,
            "payment": extras.get("payment_status"),
            "date": extras.get("actual_delivery_date"),
            "set_date": "actual_delivery_date" in extras,
            "tz": await store_timezone(cur),
            "id": po_id,
        },
    )
    assert updated is not None
    await record_activity(
        cur,
        type="admin",
        action="Purchase Order Status Changed",
        actor=actor,
        entity_type="purchase_order",
        entity_id=po_id,
        description=f"{po['po_number']}: {old} → {new}",
        details={"from": old, "to": new, **{k: v for k, v in extras.items() if v is not None}},
    )
    return await purchase_order(cur, po_id)


async def receive_items(cur: Cursor, po_id: int, receipts: list[dict[str, Any]], actor: CurrentUser) -> Row:
    """Receive #55's ``[{item_id, received_quantity}]`` (quantities received now) in the caller's transaction."""
    po = await _locked(cur, po_id)
    if po["status"] not in RECEIVING:
        raise Conflict(f"A {po['status']} purchase order cannot receive items")
    wanted = {r["item_id"]: r["received_quantity"] for r in receipts}
    if len(wanted) < len(receipts):
        raise InvalidInput("Invalid input", details={"items": "each item may appear only once"})
    lines = await cur.fetch_all(
        "SELECT id, product_id, quantity, received_quantity FROM purchase_order_items"
        " WHERE purchase_order_id = %s AND id = ANY(%s) ORDER BY id FOR UPDATE",
        (po_id, list(wanted)),
    )
    foreign = sorted(set(wanted) - {line["id"] for line in lines})
    if foreign:
        message = f"not a line of this purchase order: {', '.join(map(str, foreign))}"
        raise InvalidInput("Invalid input", details={"items": message})
    over_receipt = (await read_settings(cur, "allow_po_over_receipt")).get("allow_po_over_receipt", False)
    for line in lines:
        open_units = line["quantity"] - line["received_quantity"]
        if wanted[line["id"]] > open_units and not over_receipt:
            raise Conflict(
                f"Line {line['id']}: {line['quantity']} ordered, {line['received_quantity']} received;"
                f" receiving {wanted[line['id']]} more would exceed the order"
            )
    await cur.execute(
        "UPDATE purchase_order_items i SET received_quantity = i.received_quantity + r.quantity"
        " FROM unnest(%s::int[], %s::int[]) AS r(id, quantity) WHERE i.id = r.id",
        (list(wanted), list(wanted.values())),
    )
    # In product order, like every sale, so a receipt and a checkout never deadlock on two products.
    for line in sorted(lines, key=lambda line: (line["product_id"], line["id"])):
        await change_stock(
            cur,
            line["product_id"],
            wanted[line["id"]],
            "restock",
            actor=actor,
            reason=f"PO {po['po_number']}",
            reference_purchase_order_id=po_id,
        )
    delivered: dt.date | None = await cur.fetch_value(
        "UPDATE purchase_orders SET status = 'delivered', actual_delivery_date = coalesce(actual_delivery_date,"
        f" {_TODAY}) WHERE id = %(id)s AND NOT EXISTS (SELECT 1 FROM purchase_order_items"
        "  WHERE purchase_order_id = %(id)s AND received_quantity < quantity)"
        " RETURNING actual_delivery_date",
        {"id": po_id, "tz": await store_timezone(cur)},
    )
    await record_activity(
        cur,
        type="admin",
        action="Purchase Order Received",
        actor=actor,
        entity_type="purchase_order",
        entity_id=po_id,
        description=f"{po['po_number']}: {sum(wanted.values())} units received"
        + (", delivered" if delivered else ", partial receipt"),
        details={"items": [{"item_id": k, "received_quantity": v} for k, v in wanted.items()]},
    )
    return await purchase_order(cur, po_id)
