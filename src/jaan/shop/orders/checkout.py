"""Checkout: turning a signed-in customer's cart into an order, in one round trip.

The work is one server-side function, ``place_order`` (migrations/0019), run as one statement:
it prices the lines from the database (client-sent prices, names and totals are ignored) with
tax and shipping from the store settings, claims the ``Idempotency-Key`` (a retry replays the
first answer instead of ordering twice), writes the order, its lines and the activity row, takes
the stock of every line with its ledger row (never below zero, the product rows held only until
the commit), and returns the answer body as JSON text.  Here: the arguments, and the refusals it
raises turned into the answers they stand for.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import psycopg2

from jaan.db.pool import Database
from jaan.shop.accounts.sessions import CurrentUser
from jaan.shop.inventory.ledger import InsufficientStock
from jaan.shop.orders import idempotency
from jaan.web.envelope import dumps
from jaan.web.errors import ApiError, Conflict, IdempotencyMismatch, InvalidInput


@dataclass(frozen=True)
class Placed:
    status: int
    body: bytes  # the answer as JSON, written by the database
    replayed: bool = False  # the answer of an earlier request with the same Idempotency-Key


_PLACE_ORDER = (
    "SELECT answer_status, answer, replayed FROM place_order(%(buyer)s, %(buyer_name)s, %(buyer_email)s,"
    " %(address)s, %(key)s, %(fingerprint)s, %(cart)s::jsonb, %(products)s::int[], %(quantities)s::int[])"
)


async def place_order(
    database: Database, customer: CurrentUser, cart: dict[str, Any], key: str | None, ip_address: str | None
) -> Placed:
    """Place the order described by a validated cart; returns the HTTP status and body to answer with."""
    quantities = _quantities(cart["items"])
    # The spec's fallback: billing = shipping.
    stored_cart = {**cart, "billing_address": cart.get("billing_address") or cart["shipping_address"]}
    params = {
        "buyer": customer.id,
        "buyer_name": customer.full_name or customer.email,
        "buyer_email": customer.email,
        "address": ip_address,
        "key": key,
        "fingerprint": idempotency.fingerprint(cart) if key is not None else None,
        "cart": dumps(stored_cart).decode(),
        "products": list(quantities),
        "quantities": list(quantities.values()),
    }
    try:
        # One statement outside a transaction block: with its prelude, one implicit transaction.
        row = await database.fetch_one(_PLACE_ORDER, params)
    except psycopg2.Error as exc:
        refusal = _refusal(exc)
        if refusal is None:
            raise
        raise refusal from None
    assert row is not None
    return Placed(row["answer_status"], row["answer"].encode(), replayed=row["replayed"])


def _quantities(items: list[dict[str, Any]]) -> dict[int, int]:
    """Quantity per product (a product repeated in the cart is added up), in the cart's order."""
    quantities: dict[int, int] = {}
    for item in items:
        quantities[item["product_id"]] = quantities.get(item["product_id"], 0) + item["quantity"]
    return quantities


def _refusal(exc: psycopg2.Error) -> ApiError | None:
    """The answer a refusal raised by ``place_order`` stands for (its SQLSTATEs: migrations/0019)."""
    message = exc.diag.message_primary or ""
    detail = exc.diag.message_detail or ""
    if exc.pgcode == "JC400":
        return InvalidInput(message, details={"items": detail})
    if exc.pgcode == "JC409":
        return Conflict(message)
    if exc.pgcode == "JC410":
        return InsufficientStock(**json.loads(detail))
    if exc.pgcode == "JC422":
        return IdempotencyMismatch(message)
    return None
