"""What to reorder from whom (#50): active suppliers' products at or below their low-stock threshold.

One low-stock rule everywhere (§5.6, the products table's stock_status): stock ≤ threshold.  One
reorder rule (§5.4, the documented one): three times the threshold, at least 25 and at most 100.
"""

from __future__ import annotations

from jaan.db.pool import Cursor, Row

REORDER_MIN, REORDER_MAX, REORDER_FACTOR = 25, 100, 3

_LOW_STOCK_SQL = """
SELECT s.id, s.name AS supplier_name, s.contact_person, s.email, s.phone, s.payment_terms,
       s.default_lead_time_days,
       json_agg(json_build_object(
           'product_id', p.id, 'product_name', p.name, 'sku', p.sku, 'current_stock', p.stock_quantity,
           'low_stock_threshold', p.low_stock_threshold,
           'reorder_quantity', least(greatest(p.low_stock_threshold * %(factor)s, %(min)s), %(max)s),
           'unit_cost', coalesce(p.cost_price, p.price), 'barcode', p.barcode, 'upc_code', p.upc_code
       ) ORDER BY p.name, p.id) AS products
FROM suppliers s
JOIN products p ON p.supplier_id = s.id AND p.archived_at IS NULL AND p.stock_quantity <= p.low_stock_threshold
WHERE s.is_active
GROUP BY s.id
ORDER BY s.name, s.id
"""


async def low_stock_by_supplier(cur: Cursor) -> list[Row]:
    """Each active supplier with low-stock products, and what to order of each."""
    return await cur.fetch_all(_LOW_STOCK_SQL, {"factor": REORDER_FACTOR, "min": REORDER_MIN, "max": REORDER_MAX})
