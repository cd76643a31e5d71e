"""Creating and reading purchase orders.

Totals are the server's: each line is quantity × unit price (a generated column), the subtotal is
their sum, tax is the subtotal × the ``purchase_tax_rate`` setting and the total adds the shipping
cost.  The rate defaults to 5 %, what the store's users have always seen on a PO (issue 10); a
store that buys tax-exempt for resale sets it to 0.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from jaan.db.pool import Cursor, Row
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.orders.pricing import line_total, with_tax
from jaan.shop.store_settings import read_settings
from jaan.web.errors import InvalidInput, NotFound

STATUSES = ("draft", "pending", "confirmed", "shipped", "delivered", "cancelled")
PAYMENT_STATUSES = ("unpaid", "partial", "paid")
PURCHASE_TAX_RATE = Decimal("0.05")  # when the setting is missing (migration 0013 stores it)
# PO<order year in the store's time zone>-<sequence, at least five digits, never truncated>.
NEW_PO_NUMBER = (
    "'PO' || to_char(now() AT TIME ZONE %(tz)s, 'YYYY') || '-' || padded(nextval('purchase_order_number_seq'), 5)"
)
_ITEMS_SQL = """
SELECT i.id, i.product_id, p.name AS product_name, p.sku, i.quantity, i.unit_price, i.line_total,
       i.received_quantity, i.barcode
FROM purchase_order_items i JOIN products p ON p.id = i.product_id
WHERE i.purchase_order_id = %s ORDER BY i.id
"""
LIST_SQL = """
SELECT po.id, po.po_number, po.supplier_id, s.name AS supplier_name, po.order_date, po.expected_delivery_date,
       po.actual_delivery_date, po.status, po.payment_status, po.subtotal, po.tax_amount, po.shipping_cost,
       po.total_amount, po.notes, lines.item_count, lines.received_count
FROM purchase_orders po
JOIN suppliers s ON s.id = po.supplier_id
LEFT JOIN LATERAL (
    SELECT count(*)::int AS item_count, coalesce(sum(received_quantity), 0)::int AS received_count
    FROM purchase_order_items WHERE purchase_order_id = po.id
) lines ON true
WHERE {where}
ORDER BY po.order_date DESC, po.id DESC
"""


async def store_timezone(cur: Cursor) -> str:
    return str((await read_settings(cur, "store_timezone")).get("store_timezone", "UTC"))


async def purchase_order(cur: Cursor, po_id: int) -> Row:
    """The purchase order with its supplier's name and its lines (404 if there is none)."""
    po = await cur.fetch_one(
        "SELECT po.*, s.name AS supplier_name FROM purchase_orders po JOIN suppliers s ON s.id = po.supplier_id"
        " WHERE po.id = %s",
        (po_id,),
    )
    if po is None:
        raise NotFound("Purchase order not found")
    return {**po, "items": await cur.fetch_all(_ITEMS_SQL, (po_id,))}


async def _check_references(cur: Cursor, supplier_id: int, product_ids: list[int]) -> None:
    details: dict[str, str] = {}
    if await cur.fetch_value("SELECT id FROM suppliers WHERE id = %s FOR KEY SHARE", (supplier_id,)) is None:
        details["supplier_id"] = "no such supplier"
    if len(set(product_ids)) < len(product_ids):
        details["items"] = "each product may appear only once"
    else:
        found = await cur.fetch_all(
            "SELECT id FROM products WHERE id = ANY(%s) AND archived_at IS NULL FOR KEY SHARE", (product_ids,)
        )
        missing = sorted(set(product_ids) - {row["id"] for row in found})
        if missing:
            details["items"] = f"no such product: {', '.join(map(str, missing))}"
    if details:
        raise InvalidInput("Invalid input", details=details)


async def create_purchase_order(cur: Cursor, form: dict[str, Any], actor: CurrentUser) -> Row:
    """Insert a draft purchase order and its lines with the server's totals; returns it as #53 shows it."""
    items: list[dict[str, Any]] = form["items"]
    await _check_references(cur, form["supplier_id"], [item["product_id"] for item in items])
    rate = (await read_settings(cur, "purchase_tax_rate")).get("purchase_tax_rate", PURCHASE_TAX_RATE)
    subtotal = sum((line_total(item["quantity"], item["unit_price"]) for item in items), Decimal(0))
    totals = with_tax(subtotal, rate, form["shipping_cost"])
    po = await cur.fetch_one(
        "INSERT INTO purchase_orders (po_number, supplier_id, expected_delivery_date, notes, created_by,"
        " subtotal, tax_amount, shipping_cost, total_amount)"
        f" VALUES ({NEW_PO_NUMBER}, %(supplier)s, %(expected)s, %(notes)s, %(actor)s, %(subtotal)s, %(tax)s,"
        " %(shipping)s, %(total)s) RETURNING id, po_number, total_amount",
        {
            "tz": await store_timezone(cur),
            "supplier": form["supplier_id"],
            "expected": form.get("expected_delivery_date"),
            "notes": form["notes"],
            "actor": actor.id,
            "subtotal": totals.subtotal,
            "tax": totals.tax,
            "shipping": totals.shipping_fee,
            "total": totals.total,
        },
    )
    assert po is not None
    await cur.execute(
        "INSERT INTO purchase_order_items (purchase_order_id, product_id, quantity, unit_price)"
        " SELECT %s, l.product_id, l.quantity, l.unit_price"
        " FROM unnest(%s::int[], %s::int[], %s::numeric[]) WITH ORDINALITY AS l(product_id, quantity, unit_price, n)"
        " ORDER BY l.n",
        (
            po["id"],
            [item["product_id"] for item in items],
            [item["quantity"] for item in items],
            [item["unit_price"] for item in items],
        ),
    )
    await record_activity(
        cur,
        type="admin",
        action="Purchase Order Created",
        actor=actor,
        entity_type="purchase_order",
        entity_id=po["id"],
        description=f"{po['po_number']}: {len(items)} lines, total {po['total_amount']}",
    )
    return await purchase_order(cur, po["id"])


def list_conditions(query: dict[str, Any]) -> tuple[str, list[Any]]:
    """The WHERE clause of the list (#52) from its query; ``status=all`` means every status."""
    conditions, params = ["true"], []
    if query.get("supplier_id") is not None:
        conditions.append("po.supplier_id = %s")
        params.append(query["supplier_id"])
    if query["status"] != "all":
        conditions.append("po.status = %s")
        params.append(query["status"])
    return " AND ".join(conditions), params
