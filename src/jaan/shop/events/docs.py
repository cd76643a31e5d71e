"""The event streams in the OpenAPI document: the event envelope, each type's data, close codes.

The triggers of migrations/0015 write the data; this is its description for clients (a test
checks every type the migration can emit is described here).
"""

from __future__ import annotations

from typing import Any

from jaan.shop.events.feed import CUSTOMER_TYPES, NOT_ALLOWED, SERVICE_RESTART, SESSION_ENDED, TOO_SLOW

_ID = {"type": "integer"}
_TEXT = {"type": "string"}
_MONEY = {"type": "number", "description": "at most 2 decimals"}
_DATE = {"type": ["string", "null"], "format": "date"}

_ORDER = {"order_id": _ID, "order_number": _TEXT, "customer_name": _TEXT, "total": _MONEY}
_INVOICE = {
    "invoice_id": _ID,
    "invoice_number": _TEXT,
    "order_id": {"type": ["integer", "null"]},
    "status": _TEXT,
    "customer_name": _TEXT,
    "total": _MONEY,
    "amount_paid": _MONEY,
    "balance_due": _MONEY,
    "issue_date": _DATE,
    "due_date": _DATE,
    "paid_date": _DATE,
}
_STOCK = {
    "product_id": _ID,
    "name": _TEXT,
    "sku": _TEXT,
    "stock_quantity": _ID,
    "low_stock_threshold": _ID,
    "from": {"enum": ["in_stock", "low_stock", "out_of_stock"]},
    "to": {"enum": ["in_stock", "low_stock", "out_of_stock"]},
    "supplier_id": {"type": ["integer", "null"]},
    "reason": {"type": ["string", "null"], "description": "the last stock change's reason (sale, restock, ...)"},
}

# type -> (when it happens, its data's fields)
EVENT_TYPES: dict[str, tuple[str, dict[str, Any]]] = {
    "order.created": (
        "a customer checked out",
        {
            **_ORDER,
            "status": _TEXT,
            "customer_id": {"type": ["string", "null"], "format": "uuid"},
            "customer_email": _TEXT,
            "subtotal": _MONEY,
            "tax": _MONEY,
            "shipping_fee": _MONEY,
            "payment_method": _TEXT,
        },
    ),
    "order.status_changed": (
        "an order moved (pending, processing, shipped, delivered, cancelled)",
        {**_ORDER, "from": _TEXT, "to": _TEXT, "tracking_number": {"type": ["string", "null"]}},
    ),
    "invoice.issued": ("an invoice was created (an order's when it ships, or a manual one)", _INVOICE),
    "invoice.paid": ("an invoice became paid in full", _INVOICE),
    "stock.low": ("a product fell to its low-stock threshold or below (or came back up from zero to it)", _STOCK),
    "stock.out": ("a product ran out (stock 0 or below)", _STOCK),
    "stock.restocked": ("a product rose above its low-stock threshold again", _STOCK),
    "contact.received": (
        "a partner inquiry arrived through the contact form",
        {
            "id": {"type": "string", "format": "uuid"},
            "full_name": _TEXT,
            "company_name": _TEXT,
            "business_email": _TEXT,
            "phone_number": _TEXT,
            "status": _TEXT,
        },
    ),
    "purchase_order.received": (
        "goods of a purchase order were received (one event per receipt)",
        {
            "purchase_order_id": _ID,
            "po_number": _TEXT,
            "supplier_id": _ID,
            "supplier_name": _TEXT,
            "units_received": _ID,
            "complete": {"type": "boolean", "description": "every line has all it ordered"},
            "items": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "item_id": _ID,
                        "product_id": _ID,
                        "received_quantity": {**_ID, "description": "received now"},
                        "total_received": _ID,
                        "quantity": {**_ID, "description": "ordered"},
                    },
                },
            },
        },
    ),
}

CLOSE_CODES = {
    SERVICE_RESTART: "the worker is restarting (reload, stop): reconnect and resume",
    SESSION_ENDED: "the session ended (signed out, expired)",
    NOT_ALLOWED: "the account may no longer see this stream (an admin demoted)",
    TOO_SLOW: "the client did not keep up: more events waited for it than the buffer holds; reconnect and resume",
}


def event_schemas() -> dict[str, Any]:
    """components.schemas: one schema per event type, and Event (any of them)."""
    schemas: dict[str, Any] = {}
    for kind, (when, data) in EVENT_TYPES.items():
        audience = " (admins, and the customer it concerns)" if kind in CUSTOMER_TYPES else " (admins)"
        schemas[_schema_name(kind)] = {
            "type": "object",
            "description": when + audience,
            "required": ["id", "type", "at", "data"],
            "properties": {
                "id": {"type": "integer", "description": "increasing; resume after it"},
                "type": {"const": kind},
                "at": {"type": "string", "format": "date-time"},
                "data": {"type": "object", "properties": data},
            },
        }
    schemas["Event"] = {"oneOf": [{"$ref": f"#/components/schemas/{_schema_name(kind)}"} for kind in EVENT_TYPES]}
    return schemas


def stream_responses(customer: bool) -> dict[str, Any]:
    """The responses of an event route: the WebSocket upgrade, or the SSE stream."""
    kinds = sorted(CUSTOMER_TYPES) if customer else list(EVENT_TYPES)
    closes = "; ".join(f"{code}: {meaning}" for code, meaning in CLOSE_CODES.items())
    return {
        "101": {
            "description": "WebSocket: each text message is one Event ("
            + ", ".join(kinds)
            + f"). Close codes: {closes}. The server pings every events_heartbeat seconds.",
        },
        "200": {
            "description": "Server-Sent Events (Accept: text/event-stream): `id:` the event id, `event:` its type,"
            " `data:` the Event as JSON; a `: keep-alive` comment when idle; a final `event: close` whose data"
            " is {code, reason} with the close codes above.",
            "content": {"text/event-stream": {"schema": {"$ref": "#/components/schemas/Event"}}},
        },
        "400": {"description": "neither a WebSocket nor Accept: text/event-stream, or a bad since / Last-Event-ID"},
        "401": {"description": "no or an invalid session"},
        "403": {"description": "not allowed (not an admin), or a cookie from a foreign Origin"},
        "503": {"description": "this worker is restarting: reconnect"},
    }


def document_events(document: dict[str, Any]) -> dict[str, Any]:
    """Add the event shapes and the streams' responses to the generated OpenAPI document."""
    document.setdefault("components", {}).setdefault("schemas", {}).update(event_schemas())
    for path, customer in (("/api/admin/events", False), ("/api/events", True)):
        operation = document.get("paths", {}).get(path, {}).get("get")
        if operation is not None:
            operation["responses"] = stream_responses(customer)
            parameters = operation.setdefault("parameters", [])
            if any(p.get("name") == "Last-Event-ID" for p in parameters):
                continue  # the document is built once and kept: described already
            parameters.append(
                {
                    "name": "Last-Event-ID",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "integer", "minimum": 0},
                    "description": "SSE: the last event id received; the stream resumes after it",
                }
            )
    return document


def _schema_name(kind: str) -> str:
    return "Event_" + kind.replace(".", "_")
