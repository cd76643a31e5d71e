"""Invoices: server-computed totals, one per order, payments that add up."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.shop.orders.conftest import Shop, cart

CUSTOMER = {
    "customer_name": "Diallo Fine Foods",
    "customer_email": "accounts@diallo.example",
    "billing_street": "9 Harbour Rd",
    "billing_city": "Portland",
    "billing_state": "ME",
    "billing_zip": "04101",
}


@pytest.fixture
def shop(probe_database) -> Shop:
    return Shop(probe_database)


def manual(**changes) -> dict:
    return {
        **CUSTOMER,
        "items": [
            {"description": "Basmati rice 25 kg", "quantity": 4, "unit_price": 31.5},
            {"description": "Delivery pallet", "quantity": 1, "unit_price": 12},
        ],
        "shipping_fee": 20,
        # Client-sent totals are ignored: the server computes them from the lines.
        "subtotal": 1,
        "total": 1,
        **changes,
    }


async def create(client, admin, **changes) -> dict:
    response = await client.post("/api/admin/invoices", json=manual(**changes), headers=admin.headers)
    assert response.status == 200, await response.text()
    return (await response.json())["data"]


async def test_manual_invoice_totals_come_from_its_lines(make_client, admin):
    client = await make_client()
    invoice = await create(client, admin)
    # 4 × 31.50 + 12.00 = 138.00; tax 8 % = 11.04; shipping 20.00.
    assert (invoice["subtotal"], invoice["tax"], invoice["shipping_fee"], invoice["total"]) == (138, 11.04, 20, 169.04)
    assert invoice["balance_due"] == 169.04 and invoice["amount_paid"] == 0 and invoice["status"] == "draft"
    assert re.fullmatch(r"INV-\d{4}-\d{5,}", invoice["invoice_number"])
    assert invoice["barcode"] == "INV" + invoice["invoice_number"][4:].replace("-", "")
    assert len(invoice["items"]) == 2 and invoice["due_date"] > invoice["issue_date"]


@pytest.mark.parametrize(
    "broken",
    [
        {"items": []},
        {"items": [{"description": "x", "quantity": 0, "unit_price": 1}]},
        {"items": [{"description": "x", "quantity": 1, "unit_price": "NaN"}]},
        {"items": [{"description": "x", "quantity": 1, "unit_price": -1}]},
        {"customer_email": "nope"},
        {"shipping_fee": 1.234},
        {"status": "paid"},
    ],
)
async def test_invalid_manual_invoices_are_400(make_client, admin, shop, broken):
    client = await make_client()
    name = f"Nobody {uuid.uuid4().hex[:8]}"
    response = await client.post(
        "/api/admin/invoices", json=manual(customer_name=name, **broken), headers=admin.headers
    )
    assert response.status == 400
    assert shop.value("SELECT count(*) FROM invoices WHERE customer_name = %s", (name,)) == 0


SPEC_BODY = {  # what the web client's invoice dialog sends (#37): amounts, no lines
    **CUSTOMER,
    "customer_phone": "207-555-0100",
    "billing_country": "United States",
    "subtotal": 250,
    "tax": 20,
    "shipping_fee": 15.5,
    "total": 285.5,
    "status": "draft",
    "due_days": 14,
    "notes": "pallet deposit",
}


async def test_a_manual_invoice_without_lines_keeps_the_amounts_sent(make_client, admin):
    client = await make_client()
    response = await client.post("/api/admin/invoices", json=SPEC_BODY, headers=admin.headers)
    assert response.status == 200, await response.text()
    invoice = (await response.json())["data"]
    assert (invoice["subtotal"], invoice["tax"], invoice["shipping_fee"], invoice["total"]) == (250, 20, 15.5, 285.5)
    assert invoice["balance_due"] == 285.5 and invoice["amount_paid"] == 0 and invoice["items"] == []
    assert invoice["notes"] == "pallet deposit" and invoice["customer_phone"] == "207-555-0100"
    # Changing the shipping of a line-less invoice keeps its subtotal and tax.
    path = f"/api/admin/invoices/{invoice['id']}"
    edited = (await (await client.put(path, json={"shipping_fee": 5}, headers=admin.headers)).json())["data"]
    assert (edited["subtotal"], edited["tax"], edited["shipping_fee"], edited["total"]) == (250, 20, 5, 275)
    assert edited["balance_due"] == 275


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"total": None}, "total"),
        ({"subtotal": None}, "subtotal"),
        ({"total": 285.49}, "total"),
        ({"tax": 20.001}, "tax"),
        ({"subtotal": -1, "total": 34.5}, "subtotal"),
    ],
)
async def test_a_manual_invoice_without_lines_must_add_up(make_client, admin, shop, changes, field):
    client = await make_client()
    name = f"Nobody {uuid.uuid4().hex[:8]}"
    body = {**SPEC_BODY, "customer_name": name, **changes}
    body = {key: value for key, value in body.items() if value is not None}
    response = await client.post("/api/admin/invoices", json=body, headers=admin.headers)
    assert response.status == 400
    assert field in (await response.json())["details"]
    assert shop.value("SELECT count(*) FROM invoices WHERE customer_name = %s", (name,)) == 0


async def test_partial_then_full_payment_and_no_overpayment(make_client, admin):
    client = await make_client()
    invoice = await create(client, admin, status="sent")
    path = f"/api/admin/invoices/{invoice['id']}"
    partial = await client.put(f"{path}/status", json={"status": "sent", "amount_paid": 100}, headers=admin.headers)
    assert (await partial.json())["data"]["balance_due"] == 69.04
    over = await client.put(f"{path}/status", json={"status": "sent", "amount_paid": 500}, headers=admin.headers)
    assert over.status == 409
    paid = await (await client.put(f"{path}/status", json={"status": "paid"}, headers=admin.headers)).json()
    assert (paid["data"]["amount_paid"], paid["data"]["balance_due"], paid["data"]["status"]) == (169.04, 0, "paid")
    assert paid["data"]["paid_date"] is not None
    cancel = await client.put(f"{path}/status", json={"status": "cancelled"}, headers=admin.headers)
    assert cancel.status == 409


async def test_edits_change_only_what_is_sent_and_recompute_totals(make_client, admin):
    client = await make_client()
    invoice = await create(client, admin, notes="net 30")
    path = f"/api/admin/invoices/{invoice['id']}"
    payment = await client.put(path, json={"amount_paid": 50}, headers=admin.headers)
    assert (await payment.json())["data"]["notes"] == "net 30"  # untouched
    edited = await (
        await client.put(
            path,
            json={"items": [{"description": "Ghee 1 kg", "quantity": 10, "unit_price": 9.99}]},
            headers=admin.headers,
        )
    ).json()
    data = edited["data"]
    assert (data["subtotal"], data["tax"], data["shipping_fee"], data["amount_paid"]) == (99.9, 7.99, 20, 50)
    assert data["total"] == 127.89 and data["balance_due"] == 77.89 and len(data["items"]) == 1


async def test_orders_get_one_invoice_whatever_the_route(make_client, admin, customer, shop):
    client = await make_client()
    product = shop.product(stock=5, price="20.00")
    order = await (await client.post("/api/orders", json=cart((product, 2)), headers=customer.headers)).json()
    order_id = order["data"]["order_id"]
    first = await (await client.post(f"/api/admin/invoices/from-order/{order_id}", headers=admin.headers)).json()
    second = await (
        await client.post(f"/api/admin/invoices/from-order/{order_id}", json={"due_days": 10}, headers=admin.headers)
    ).json()
    assert first["data"]["id"] == second["data"]["id"]
    assert first["data"]["total"] == order["data"]["total"]
    for status in ("processing", "shipped"):
        await client.put(f"/api/admin/orders/{order_id}/status", json={"status": status}, headers=admin.headers)
    assert shop.value("SELECT count(*) FROM invoices WHERE order_id = %s", (order_id,)) == 1
    mine = await (await client.get("/api/user/invoices", headers=customer.headers)).json()
    assert [row["id"] for row in mine["data"]["data"]] == [first["data"]["id"]]


async def test_from_order_refuses_missing_and_cancelled_orders(make_client, admin, customer, shop):
    client = await make_client()
    assert (await client.post("/api/admin/invoices/from-order/999999999", headers=admin.headers)).status == 404
    product = shop.product(stock=5)
    order = await (await client.post("/api/orders", json=cart((product, 1)), headers=customer.headers)).json()
    order_id = order["data"]["order_id"]
    await client.put(f"/api/admin/orders/{order_id}/status", json={"status": "cancelled"}, headers=admin.headers)
    assert (await client.post(f"/api/admin/invoices/from-order/{order_id}", headers=admin.headers)).status == 409


async def test_admin_list_filters_and_stats(make_client, admin):
    client = await make_client()
    marker = f"Marker {uuid.uuid4().hex[:8]}"
    unpaid = await create(client, admin, customer_name=marker, status="sent")
    paid = await create(client, admin, customer_name=marker, status="sent")
    await client.put(f"/api/admin/invoices/{paid['id']}/status", json={"status": "paid"}, headers=admin.headers)
    listing = await (
        await client.get("/api/admin/invoices", params={"search": marker, "status": "unpaid"}, headers=admin.headers)
    ).json()
    assert [row["id"] for row in listing["data"]["data"]] == [unpaid["id"]]
    stats = (await (await client.get("/api/admin/invoices/stats", headers=admin.headers)).json())["data"]
    assert set(stats) == {"total_revenue", "outstanding", "sent_count", "overdue_count"}
    assert stats["total_revenue"] >= 169.04 and stats["outstanding"] >= 169.04
    one = await (await client.get(f"/api/admin/invoices/{unpaid['id']}", headers=admin.headers)).json()
    assert len(one["data"]["items"]) == 2


async def test_invoice_routes_are_protected(make_client, customer):
    client = await make_client()
    for method, path in [
        ("get", "/api/admin/invoices"),
        ("get", "/api/admin/invoices/stats"),
        ("post", "/api/admin/invoices"),
        ("get", "/api/admin/invoices/1"),
        ("put", "/api/admin/invoices/1/status"),
    ]:
        assert (await getattr(client, method)(path)).status == 401
        assert (await getattr(client, method)(path, headers=customer.headers)).status == 403
    assert (await client.get("/api/user/invoices")).status == 401


async def test_unknown_invoices_are_404(make_client, admin):
    client = await make_client()
    assert (await client.get("/api/admin/invoices/999999999", headers=admin.headers)).status == 404
    assert (
        await client.put("/api/admin/invoices/abc/status", json={"status": "sent"}, headers=admin.headers)
    ).status == 404
