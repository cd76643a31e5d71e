"""bin/seed's suppliers and purchase orders: linked products, every state, stock and ledger in step."""

from __future__ import annotations

from tests.cli.test_seed import query, run_seed

SMALL = ("--products", "200", "--customers", "5", "--orders", "10", "--invoices", "2", "--purchase-orders", "40")


def test_seed_makes_suppliers_and_purchase_orders_whose_receipts_are_in_the_ledger(shop_database):
    result = run_seed(shop_database, *SMALL)
    assert result.returncode == 0, result.stderr
    assert "purchasing: 8 suppliers linked to 200 products, 40 purchase orders" in result.stdout
    assert query(shop_database, "SELECT count(*) FROM products WHERE supplier_id IS NULL") == [(0,)]
    (statuses,) = query(shop_database, "SELECT array_agg(DISTINCT status) FROM purchase_orders")[0]
    assert {"draft", "delivered"} <= set(statuses)
    # Every received unit is a restock ledger row of its purchase order, and stock matches the ledger.
    assert query(
        shop_database,
        "SELECT (SELECT coalesce(sum(received_quantity), 0) FROM purchase_order_items),"
        " (SELECT coalesce(sum(quantity_change), 0) FROM inventory_adjustments"
        "  WHERE reference_purchase_order_id IS NOT NULL)",
    ) == [query(shop_database, "SELECT coalesce(sum(received_quantity), 0) FROM purchase_order_items")[0] * 2]
    assert query(
        shop_database,
        "SELECT count(*) FROM products p WHERE stock_quantity <> coalesce((SELECT sum(quantity_change)"
        " FROM inventory_adjustments a WHERE a.product_id = p.id), 0)",
    ) == [(0,)]
    assert query(shop_database, "SELECT count(*) FROM purchase_orders WHERE total_amount <> subtotal + tax_amount") == [
        (0,)
    ]
    again = run_seed(shop_database, *SMALL, "--reset")
    assert again.returncode == 0, again.stderr
    assert query(shop_database, "SELECT count(*), min(id) FROM suppliers") == [(8, 1)]
