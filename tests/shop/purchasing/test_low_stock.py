"""What to reorder from whom (#50)."""

from __future__ import annotations


def link(shop, product_id: int, supplier_id: int, threshold: int = 10, cost: str | None = None) -> None:
    shop.query(
        "UPDATE products SET supplier_id = %s, low_stock_threshold = %s, cost_price = %s WHERE id = %s",
        (supplier_id, threshold, cost, product_id),
    )


async def test_active_suppliers_list_their_products_at_or_below_the_threshold(purchasing, shop):
    supplier = await purchasing.supplier(contactPerson="Ravi", defaultLeadTimeDays=5)
    inactive = await purchasing.supplier(name="zzz inactive supplier")
    low, at, empty, fine = (shop.product(stock=s, price="4.00") for s in (3, 10, 0, 11))
    for product in (low, at, empty, fine):
        link(shop, product, supplier["id"], cost="2.50" if product == low else None)
    link(shop, shop.product(stock=0), inactive["id"])
    edit = await purchasing.client.put(
        f"/api/admin/suppliers/{inactive['id']}", json={"isActive": False}, headers=purchasing.admin.headers
    )
    assert edit.status == 200

    response = await purchasing.client.get("/api/admin/low-stock-by-supplier", headers=purchasing.admin.headers)
    assert response.status == 200
    groups = {group["id"]: group for group in (await response.json())["data"]}
    assert inactive["id"] not in groups
    group = groups[supplier["id"]]
    assert group["supplier_name"] == supplier["name"] and group["contact_person"] == "Ravi"
    assert group["default_lead_time_days"] == 5
    products = {p["product_id"]: p for p in group["products"]}
    assert set(products) == {low, at, empty}
    assert products[low]["current_stock"] == 3 and products[low]["unit_cost"] == 2.5
    assert products[at]["unit_cost"] == 4  # no cost price: the selling price
    # Reorder: three times the threshold, between 25 and 100.
    assert products[low]["reorder_quantity"] == 30


async def test_the_reorder_quantity_is_bounded(purchasing, shop):
    supplier = await purchasing.supplier()
    small, big = shop.product(stock=0), shop.product(stock=0)
    link(shop, small, supplier["id"], threshold=2)
    link(shop, big, supplier["id"], threshold=50)
    response = await purchasing.client.get("/api/admin/low-stock-by-supplier", headers=purchasing.admin.headers)
    group = next(g for g in (await response.json())["data"] if g["id"] == supplier["id"])
    assert {p["product_id"]: p["reorder_quantity"] for p in group["products"]} == {small: 25, big: 100}
