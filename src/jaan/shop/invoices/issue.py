"""Issuing invoices: numbers from a sequence, dates in the store's time zone, one per order."""

from __future__ import annotations

from typing import Any

from jaan.db.pool import Cursor
from jaan.shop.store_settings import read_settings

# "Today" in the store's time zone (settings.store_timezone), the base of issue and due dates.
STORE_TODAY = "(now() AT TIME ZONE %(tz)s)::date"
# INV-<issue year>-<sequence, at least five digits>.
NEW_INVOICE_NUMBER = "'INV-' || to_char({today}, 'YYYY') || '-' || padded(nextval('invoice_number_seq'), 5)"


async def invoice_terms(cur: Cursor) -> tuple[str, int]:
    """(store time zone, default payment terms in days)."""
    settings = await read_settings(cur, "store_timezone", "invoice_payment_terms_days")
    return str(settings.get("store_timezone", "UTC")), int(settings.get("invoice_payment_terms_days", 30))


async def invoice_for_order(
    cur: Cursor, order_id: int, *, status: str = "draft", due_days: int | None = None
) -> tuple[dict[str, Any], bool]:
    """The order's invoice, created from the order if it has none: (invoice row, created now?).

    Idempotent under concurrency: the unique order_id makes a racing second insert a no-op,
    and both callers get the same invoice.  Amounts are the order's own snapshot, so the
    invoice total always equals the order total; the lines are copied from the order.
    """
    existing = await cur.fetch_one("SELECT * FROM invoices WHERE order_id = %s", (order_id,))
    if existing is not None:
        return existing, False
    tz, terms = await invoice_terms(cur)
    today = STORE_TODAY
    row = await cur.fetch_one(
        "INSERT INTO invoices (invoice_number, order_id, user_id, customer_name, customer_email, customer_phone,"
        " billing_street, billing_street2, billing_city, billing_state, billing_zip, billing_country,"
        " subtotal, tax, shipping_fee, total, status, issue_date, due_date)"
        f" SELECT {NEW_INVOICE_NUMBER.format(today=today)}, o.id, o.user_id, o.customer_name, o.customer_email,"
        "  o.customer_phone, coalesce(o.billing_street, o.shipping_street),"
        "  CASE WHEN o.billing_street IS NULL THEN o.shipping_street2 ELSE o.billing_street2 END,"
        "  coalesce(o.billing_city, o.shipping_city), coalesce(o.billing_state, o.shipping_state),"
        "  coalesce(o.billing_zip, o.shipping_zip), coalesce(o.billing_country, o.shipping_country),"
        f"  o.subtotal, o.tax, o.shipping_fee, o.total, %(status)s, {today}, {today} + %(due_days)s"
        " FROM orders o WHERE o.id = %(order)s"
        " ON CONFLICT (order_id) DO NOTHING RETURNING *",
        {"tz": tz, "status": status, "due_days": terms if due_days is None else due_days, "order": order_id},
    )
    if row is None:  # a concurrent request issued it first
        existing = await cur.fetch_one("SELECT * FROM invoices WHERE order_id = %s", (order_id,))
        assert existing is not None
        return existing, False
    await cur.execute(
        "INSERT INTO invoice_items (invoice_id, product_id, description, quantity, unit_price, total_price)"
        " SELECT %s, product_id, product_name, quantity, unit_price, total_price FROM order_items"
        " WHERE order_id = %s ORDER BY id",
        (row["id"], order_id),
    )
    return row, True
