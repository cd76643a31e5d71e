"""Checkout: turning a signed-in customer's cart into an order, in one transaction.

Lines are priced from the database (client-sent prices, names and totals are ignored), tax and
shipping come from the store settings, the stock of every line is taken by the stock ledger in
one statement holding the product rows only until the commit, and a retry with the same
``Idempotency-Key`` replays the first answer instead of ordering twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jaan.db.pool import Cursor, Database, Row
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.activity import record_activity
from jaan.shop.inventory.ledger import Sale, sell_stock
from jaan.shop.orders import idempotency
from jaan.shop.orders.pricing import PricedLine, price
from jaan.shop.store_settings import typed_value
from jaan.web.errors import InvalidInput


@dataclass(frozen=True)
class Placed:
    status: int
    body: Any
    replayed: bool = False  # the answer of an earlier request with the same Idempotency-Key


async def place_order(
    database: Database, customer: CurrentUser, cart: dict[str, Any], key: str | None, ip_address: str | None
) -> Placed:
    """Place the order described by a validated cart; returns the HTTP status and body to answer with."""
    request = idempotency.fingerprint(cart)
    async with database.transaction() as cur:
        quantities = _quantities(cart["items"])
        claim = idempotency.claim_params(customer.id, key, request) if key is not None else None
        with idempotency.claiming():
            rows = await _prices(cur, list(quantities), claim)
        if key is not None and not rows[0]["claimed"]:
            replay = await idempotency.earlier_answer(cur, customer.id, key, request)
            return Placed(replay.status, replay.body, replayed=True)
        lines, store = _priced_lines(rows, quantities)
        totals = price(lines, store["tax_rate"], store["default_shipping_fee"], store["free_shipping_threshold"])
        order = await _insert_order(cur, customer, cart, lines, totals)
        await record_activity(
            cur,
            type="order",
            action="Order Created",
            actor=customer,
            ip_address=ip_address,
            description=f"{order['order_number']} placed for {order['total']}",
            entity_type="order",
            entity_id=order["id"],
        )
        body = {"success": True, "data": order}
        if key is not None:
            idempotency.remember(cur, customer.id, key, 200, body)
        # Last, so the product rows stay locked only for this statement and the commit.
        await sell_stock(
            cur,
            order["id"],
            order["order_number"],
            [Sale(line.product_id, line.quantity, line.unit_price) for line in lines],
            actor=customer,
            allow_negative=bool(store.get("allow_negative_stock", False)),
        )
    return Placed(200, body)


def _quantities(items: list[dict[str, Any]]) -> dict[int, int]:
    """Quantity per product (a product repeated in the cart is added up)."""
    quantities: dict[int, int] = {}
    for item in items:
        quantities[item["product_id"]] = quantities.get(item["product_id"], 0) + item["quantity"]
    return quantities


async def _prices(cur: Cursor, product_ids: list[int], claim: dict[str, Any] | None) -> list[Row]:
    """Today's prices of the cart's products and the store settings, in one round trip, with the
    Idempotency-Key claim riding along when there is one."""
    claim_cte = f"WITH {idempotency.CLAIM_CTE} " if claim else ""
    claimed = idempotency.CLAIMED if claim else "1"
    return await cur.fetch_all(
        f"{claim_cte}SELECT {claimed} AS claimed, p.id, p.name, p.sku, p.price, s.settings FROM"
        " (SELECT jsonb_object_agg(key, jsonb_build_array(value, value_type)) AS settings FROM settings"
        "  WHERE key IN ('tax_rate', 'default_shipping_fee', 'free_shipping_threshold', 'allow_negative_stock')) s"
        " LEFT JOIN products p ON p.id = ANY(%(ids)s) AND p.archived_at IS NULL",
        {"ids": product_ids, **(claim or {})},
    )


def _priced_lines(rows: list[Row], quantities: dict[int, int]) -> tuple[list[PricedLine], dict[str, Any]]:
    """The cart's lines at those prices (400 for a product not for sale), and the typed settings."""
    store = {key: typed_value(value, value_type) for key, (value, value_type) in (rows[0]["settings"] or {}).items()}
    found = {row["id"]: row for row in rows if row["id"] is not None}
    missing = [str(pid) for pid in quantities if pid not in found]
    if missing:
        raise InvalidInput("Invalid input", details={"items": f"not for sale: product {', '.join(missing)}"})
    lines = [
        PricedLine(pid, found[pid]["name"], found[pid]["sku"], quantity, found[pid]["price"])
        for pid, quantity in quantities.items()
    ]
    store.setdefault("tax_rate", Decimal("0.08"))
    store.setdefault("default_shipping_fee", Decimal("10.00"))
    store.setdefault("free_shipping_threshold", Decimal("100.00"))
    return lines, store


async def _insert_order(
    cur: Cursor, customer: CurrentUser, cart: dict[str, Any], lines: list[PricedLine], totals: Any
) -> dict[str, Any]:
    ship = cart["shipping_address"]
    bill = cart.get("billing_address") or ship  # the spec's fallback: billing = shipping
    row = await cur.fetch_one(
        "WITH new_order AS ("
        "  INSERT INTO orders (user_id, customer_name, customer_email, customer_phone,"
        "   shipping_street, shipping_street2, shipping_city, shipping_state, shipping_zip, shipping_country,"
        "   billing_street, billing_street2, billing_city, billing_state, billing_zip, billing_country,"
        "   subtotal, tax, shipping_fee, total, payment_method, notes)"
        "  VALUES (%(user)s, %(name)s, %(email)s, %(phone)s, %(s_street)s, %(s_street2)s, %(s_city)s,"
        "   %(s_state)s, %(s_zip)s, %(s_country)s, %(b_street)s, %(b_street2)s, %(b_city)s, %(b_state)s,"
        "   %(b_zip)s, %(b_country)s, %(subtotal)s, %(tax)s, %(shipping)s, %(total)s, %(payment)s, %(notes)s)"
        "  RETURNING id, order_number, status, subtotal, tax, shipping_fee, total),"
        " lines AS (SELECT * FROM unnest(%(ids)s::int[], %(names)s::text[], %(skus)s::text[],"
        "   %(quantities)s::int[], %(prices)s::numeric[]) AS l(product_id, name, sku, quantity, unit_price)),"
        " items AS (INSERT INTO order_items (order_id, product_id, product_name, product_sku, quantity,"
        "   unit_price, total_price)"
        "  SELECT o.id, l.product_id, l.name, l.sku, l.quantity, l.unit_price, l.unit_price * l.quantity"
        "  FROM new_order o, lines l)"
        " SELECT id, id AS order_id, order_number, status, subtotal, tax, shipping_fee, total FROM new_order",
        {
            "user": customer.id,
            "name": cart["customer_name"],
            "email": cart["customer_email"],
            "phone": cart.get("customer_phone"),
            "s_street": ship["street"],
            "s_street2": ship.get("street2"),
            "s_city": ship["city"],
            "s_state": ship["state"],
            "s_zip": ship["zip"],
            "s_country": ship["country"],
            "b_street": bill["street"],
            "b_street2": bill.get("street2"),
            "b_city": bill["city"],
            "b_state": bill["state"],
            "b_zip": bill["zip"],
            "b_country": bill["country"],
            "subtotal": totals.subtotal,
            "tax": totals.tax,
            "shipping": totals.shipping_fee,
            "total": totals.total,
            "payment": cart["payment_method"],
            "notes": cart.get("notes"),
            "ids": [line.product_id for line in lines],
            "names": [line.name for line in lines],
            "skus": [line.sku for line in lines],
            "quantities": [line.quantity for line in lines],
            "prices": [line.unit_price for line in lines],
        },
    )
    assert row is not None
    return row
