"""Invoice routes: the customer's list (#27) and the admin's (#35–#41).

Totals are always the server's: subtotal = Σ lines, tax from the store's rate, total = subtotal +
tax + shipping; balance_due is derived by the database; payments never exceed the total, and an
invoice is paid exactly when its balance reaches zero.  Edits change only the fields sent.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal, get_args

from aiohttp import web
from pydantic import ConfigDict, Field, model_validator

from jaan.db.pool import Cursor
from jaan.db.sql import assignments, escape_like, insert_sql
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.shop.invoices.issue import NEW_INVOICE_NUMBER, STORE_TODAY, invoice_for_order, invoice_terms
from jaan.shop.orders.pricing import line_total, with_tax
from jaan.shop.store_settings import read_settings
from jaan.state import DATABASE
from jaan.web.answers import Envelope, Page, Shape
from jaan.web.envelope import ok
from jaan.web.errors import Conflict, InvalidInput, NotFound
from jaan.web.fields import Email, Id, Money, Text, money_fits
from jaan.web.input import Body, id_from_path, partial
from jaan.web.paging import Paging, fetch_page

routes = RouteTable("invoices")

InvoiceStatus = Literal["draft", "sent", "paid", "overdue", "cancelled"]
STATUSES = get_args(InvoiceStatus)
OPEN = "status NOT IN ('paid', 'cancelled') AND balance_due > 0"
DueDays = Annotated[int, Field(ge=0, le=365)]


class MyInvoiceQuery(Paging):
    status: Literal["all", InvoiceStatus] = "all"


class InvoiceQuery(Paging):
    # "unpaid" and "overdue" are views (open invoices, and those past due), not only stored statuses.
    status: Literal["all", "unpaid", InvoiceStatus] = "all"
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any


class InvoiceLine(Body):
    product_id: Id | None = None
    description: Annotated[str, Text(1, 500)]
    quantity: Annotated[int, Field(ge=1, le=100_000)]
    unit_price: Money


Lines = Annotated[list[InvoiceLine], Field(min_length=1, max_length=200)]


class InvoiceCustomer(Body):
    customer_name: Annotated[str, Text(1, 200)]
    customer_email: Email
    customer_phone: Annotated[str, Text(max_length=40)] | None = None
    billing_street: Annotated[str, Text(1, 200)]
    billing_street2: Annotated[str, Text(max_length=200)] | None = None
    billing_city: Annotated[str, Text(1, 100)]
    billing_state: Annotated[str, Text(1, 100)]
    billing_zip: Annotated[str, Text(1, 20)]
    billing_country: Annotated[str, Text(1, 100)] = "United States"
    notes: Annotated[str, Text(max_length=2000)] | None = None


CUSTOMER = tuple(InvoiceCustomer.model_fields)


def _lines_fit(lines: list[InvoiceLine] | None) -> None:
    if lines:
        money_fits(sum((line.quantity * line.unit_price for line in lines), Decimal(0)), "items")


class NewInvoice(InvoiceCustomer):
    """A manual invoice.  With items, the server totals them; without (the spec's #37 body), the
    amounts sent are the invoice's, and they must add up: total = subtotal + tax + shipping_fee."""

    model_config = ConfigDict(
        json_schema_extra={"anyOf": [{"required": ["items"]}, {"required": ["subtotal", "total"]}]}
    )

    items: Lines | None = None
    subtotal: Money | None = None
    tax: Money = Decimal(0)
    shipping_fee: Money = Decimal(0)
    total: Money | None = None
    status: Literal["draft", "sent"] = "draft"
    due_days: DueDays | None = None

    @model_validator(mode="after")
    def _fits(self) -> NewInvoice:
        _lines_fit(self.items)
        return self


class InvoiceFields(InvoiceCustomer):
    items: Lines
    shipping_fee: Money
    amount_paid: Money
    status: InvoiceStatus

    @model_validator(mode="after")
    def _fits(self) -> InvoiceFields:
        _lines_fit(self.items)
        return self


InvoiceChanges = partial(InvoiceFields, "InvoiceChanges")


class InvoiceStatusChange(Body):
    status: InvoiceStatus
    amount_paid: Money | None = None


class FromOrder(Body):
    """Optional: the order's invoice is due after the store's terms unless this says otherwise."""

    due_days: DueDays | None = None


class Invoice(Shape):
    id: int
    invoice_number: str
    status: InvoiceStatus
    subtotal: float
    tax: float
    shipping_fee: float
    total: float
    amount_paid: float
    balance_due: float
    issue_date: dt.date
    due_date: dt.date


class InvoiceItem(Shape):
    id: int
    description: str
    quantity: int
    unit_price: float
    total_price: float


class InvoiceWithLines(Invoice):
    items: list[InvoiceItem]


class InvoiceList(Envelope[Page[Invoice]]):
    """One page of invoices, newest first."""


class OneInvoice(Envelope[InvoiceWithLines]):
    """The invoice with its lines."""


class ChangedInvoice(Envelope[Invoice]):
    """The invoice."""


class Receivables(Shape):
    total_revenue: float
    outstanding: float
    sent_count: int
    overdue_count: int


class InvoiceStats(Envelope[Receivables]):
    """Receivables at a glance."""


async def _page(cur: Cursor, where: str, params: list[Any], paging: Paging) -> dict[str, Any]:
    rows, total = await fetch_page(
        cur,
        paging,
        f"SELECT * FROM invoices WHERE {where} ORDER BY created_at DESC, id DESC",
        f"SELECT count(*) FROM invoices WHERE {where}",
        params,
    )
    return paging.result(rows, total)


@routes.route(
    "GET",
    "/api/user/invoices",
    access=Access.USER,
    summary="The customer's invoices",
    query=MyInvoiceQuery,
    responses={200: InvoiceList},
)
async def my_invoices(request: web.Request, query: MyInvoiceQuery) -> web.Response:
    where, params = "user_id = %s", [current_user(request).id]
    if query.status != "all":
        where += " AND status = %s"
        params.append(query.status)
    async with request.app[DATABASE].cursor() as cur:
        return ok(await _page(cur, where, params, query))


@routes.route(
    "GET",
    "/api/admin/invoices",
    access=Access.ADMIN,
    summary="All invoices",
    query=InvoiceQuery,
    responses={200: InvoiceList},
)
async def all_invoices(request: web.Request, query: InvoiceQuery) -> web.Response:
    database = request.app[DATABASE]
    async with database.cursor() as cur:
        tz, _ = await invoice_terms(cur)
        conditions: list[str] = ["true"]
        params: list[Any] = []
        if query.status == "unpaid":
            conditions.append(OPEN)
        elif query.status == "overdue":
            conditions.append(f"{OPEN} AND due_date < (now() AT TIME ZONE %s)::date")
            params.append(tz)
        elif query.status != "all":
            conditions.append("status = %s")
            params.append(query.status)
        if query.search:
            conditions.append("(invoice_number ILIKE %s OR customer_name ILIKE %s OR customer_email ILIKE %s)")
            params += [f"%{escape_like(query.search)}%"] * 3
        return ok(await _page(cur, " AND ".join(conditions), params, query))


@routes.route(
    "GET",
    "/api/admin/invoices/stats",
    access=Access.ADMIN,
    summary="Receivables at a glance",
    responses={200: InvoiceStats},
)
async def invoice_stats(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        tz, _ = await invoice_terms(cur)
        stats = await cur.fetch_one(
            "SELECT coalesce(sum(total) FILTER (WHERE status = 'paid'), 0) AS total_revenue,"
            f" coalesce(sum(balance_due) FILTER (WHERE {OPEN}), 0) AS outstanding,"
            " count(*) FILTER (WHERE status = 'sent') AS sent_count,"
            f" count(*) FILTER (WHERE {OPEN} AND due_date < (now() AT TIME ZONE %s)::date) AS overdue_count"
            " FROM invoices",
            (tz,),
        )
    return ok(stats)


async def _with_items(cur: Cursor, invoice: dict[str, Any]) -> dict[str, Any]:
    items = await cur.fetch_all("SELECT * FROM invoice_items WHERE invoice_id = %s ORDER BY id", (invoice["id"],))
    return {**invoice, "items": items}


async def _replace_lines(cur: Cursor, invoice_id: int, lines: list[dict[str, Any]]) -> None:
    await cur.execute("DELETE FROM invoice_items WHERE invoice_id = %s", (invoice_id,))
    await cur.execute(
        "INSERT INTO invoice_items (invoice_id, product_id, description, quantity, unit_price, total_price)"
        " SELECT %s, l.product_id, l.description, l.quantity, l.unit_price, l.unit_price * l.quantity"
        " FROM unnest(%s::int[], %s::text[], %s::int[], %s::numeric[]) AS l(product_id, description, quantity,"
        " unit_price)",
        (
            invoice_id,
            [line.get("product_id") for line in lines],
            [line["description"] for line in lines],
            [line["quantity"] for line in lines],
            [line["unit_price"] for line in lines],
        ),
    )


async def _totals(cur: Cursor, lines: list[dict[str, Any]], shipping_fee: Decimal) -> dict[str, Any]:
    """An invoice's amounts from its lines, the store's tax rate and a flat shipping fee."""
    rate = (await read_settings(cur, "tax_rate")).get("tax_rate", Decimal(0))
    subtotal = sum((line_total(line["quantity"], line["unit_price"]) for line in lines), Decimal(0))
    totals = with_tax(subtotal, rate, shipping_fee)
    return {"subtotal": totals.subtotal, "tax": totals.tax, "shipping_fee": totals.shipping_fee, "total": totals.total}


def _amounts_sent(body: dict[str, Any]) -> dict[str, Any]:
    """A manual invoice without lines: its amounts as sent, which must add up."""
    missing = {name: "is required (or send items)" for name in ("subtotal", "total") if body[name] is None}
    if missing:
        raise InvalidInput("Invalid input", details=missing)
    amounts = {name: body[name] for name in ("subtotal", "tax", "shipping_fee", "total")}
    if amounts["total"] != amounts["subtotal"] + amounts["tax"] + amounts["shipping_fee"]:
        raise InvalidInput("Invalid input", details={"total": "must equal subtotal + tax + shipping_fee"})
    return amounts


@routes.route(
    "POST",
    "/api/admin/invoices",
    access=Access.ADMIN,
    summary="A manual invoice",
    body=NewInvoice,
    responses={200: OneInvoice},
    errors=(409,),
)
async def create_invoice(request: web.Request, body: NewInvoice) -> web.Response:
    form = body.model_dump()
    actor = current_user(request)
    async with request.app[DATABASE].transaction() as cur:
        tz, terms = await invoice_terms(cur)
        if form["items"] is not None:
            totals = await _totals(cur, form["items"], form["shipping_fee"])
        else:
            totals = _amounts_sent(form)
        values = {**{name: form[name] for name in CUSTOMER}, **totals, "status": form["status"]}
        number = NEW_INVOICE_NUMBER.format(today=STORE_TODAY)
        computed = {"invoice_number": number, "issue_date": STORE_TODAY, "due_date": f"{STORE_TODAY} + %(due)s"}
        invoice = await cur.fetch_one(
            insert_sql("invoices", values, computed=computed),
            {**values, "tz": tz, "due": terms if form["due_days"] is None else form["due_days"]},
        )
        assert invoice is not None
        if form["items"] is not None:
            await _replace_lines(cur, invoice["id"], form["items"])
        await record_activity(
            cur,
            type="admin",
            action="Invoice Created",
            actor=actor,
            entity_type="invoice",
            entity_id=invoice["id"],
            description=f"{invoice['invoice_number']}: {invoice['status']}, total {invoice['total']}",
        )
        return ok(await _with_items(cur, invoice))


@routes.route(
    "PUT",
    "/api/admin/invoices/{id}",
    access=Access.ADMIN,
    summary="Edit an invoice: only the fields sent change",
    body=InvoiceChanges,
    responses={200: OneInvoice},
    errors=(409,),
)
async def edit_invoice(request: web.Request, body: InvoiceFields) -> web.Response:
    changes = body.model_dump(exclude_unset=True)
    invoice_id = id_from_path(request, "Invoice not found")
    async with request.app[DATABASE].transaction() as cur:
        invoice = await _locked(cur, invoice_id)
        if invoice["status"] == "cancelled":
            raise Conflict("A cancelled invoice cannot be edited")
        if invoice["status"] == "paid" and ("items" in changes or "shipping_fee" in changes):
            raise Conflict("A paid invoice's amounts cannot change")
        values = {name: changes[name] for name in CUSTOMER if name in changes}
        if "items" in changes or "shipping_fee" in changes:
            lines = changes.get("items") or await cur.fetch_all(
                "SELECT description, quantity, unit_price FROM invoice_items WHERE invoice_id = %s", (invoice_id,)
            )
            shipping_fee = changes.get("shipping_fee", invoice["shipping_fee"])
            if "items" in changes:
                await _replace_lines(cur, invoice_id, lines)
            if lines:
                values.update(await _totals(cur, lines, shipping_fee))
            else:  # an invoice made from amounts alone (#37) keeps them; only its shipping moved
                total = invoice["subtotal"] + invoice["tax"] + shipping_fee
                values.update(shipping_fee=shipping_fee, total=total)
        if "status" in changes:
            values["status"] = changes["status"]
        if "amount_paid" in changes:
            values["amount_paid"] = changes["amount_paid"]
        updated = await _apply(cur, invoice, values)
        await record_activity(
            cur,
            type="admin",
            action="Invoice Updated",
            actor=current_user(request),
            entity_type="invoice",
            entity_id=updated["id"],
            description=f"{updated['invoice_number']}: {updated['status']}, total {updated['total']}",
            details={"changed": sorted(changes)},
        )
        return ok(await _with_items(cur, updated))


async def _locked(cur: Cursor, invoice_id: int) -> dict[str, Any]:
    invoice = await cur.fetch_one("SELECT * FROM invoices WHERE id = %s FOR NO KEY UPDATE", (invoice_id,))
    if invoice is None:
        raise NotFound("Invoice not found")
    return invoice


async def _apply(cur: Cursor, invoice: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """Write the changes, keeping payment status and amounts consistent (409 when they cannot be)."""
    total = values.get("total", invoice["total"])
    paid = values.get("amount_paid", invoice["amount_paid"])
    status = values.get("status", invoice["status"])
    if paid > total:
        raise Conflict(f"A payment of {paid} exceeds the invoice total of {total}")
    if status == "paid" and "amount_paid" not in values:
        paid = values["amount_paid"] = total  # marking paid records the payment in full
    if status == "paid" and paid != total:
        raise Conflict("An invoice is paid only when the amount paid equals its total")
    if paid == total and total > 0 and status not in ("paid", "cancelled"):
        values["status"] = status = "paid"
    if status != "paid" and invoice["status"] == "paid" and paid == total:
        raise Conflict("A settled invoice stays paid; record a refund by lowering amount_paid")
    if status == "cancelled" and paid > 0:
        raise Conflict("An invoice with payments cannot be cancelled")
    setting = assignments(values)
    paid_date = (
        "CASE WHEN %(status_)s = 'paid' THEN coalesce(paid_date, (now() AT TIME ZONE %(tz)s)::date) ELSE NULL END"
    )
    tz, _ = await invoice_terms(cur)
    updated = await cur.fetch_one(
        f"UPDATE invoices SET {setting + ', ' if setting else ''}paid_date = {paid_date}"
        " WHERE id = %(id_)s RETURNING *",
        {**values, "status_": status, "tz": tz, "id_": invoice["id"]},
    )
    assert updated is not None
    return updated


@routes.route(
    "GET",
    "/api/admin/invoices/{id}",
    access=Access.ADMIN,
    summary="One invoice with its lines",
    responses={200: OneInvoice},
)
async def get_invoice(request: web.Request) -> web.Response:
    async with request.app[DATABASE].cursor() as cur:
        invoice = await cur.fetch_one(
            "SELECT * FROM invoices WHERE id = %s", (id_from_path(request, "Invoice not found"),)
        )
        if invoice is None:
            raise NotFound("Invoice not found")
        return ok(await _with_items(cur, invoice))


@routes.route(
    "POST",
    "/api/admin/invoices/from-order/{orderId}",
    access=Access.ADMIN,
    summary="The order's invoice (created once; later calls return the same one)",
    body=FromOrder,
    body_required=False,
    responses={200: ChangedInvoice},
    errors=(409,),
)
async def invoice_from_order(request: web.Request, body: FromOrder) -> web.Response:
    order_id = id_from_path(request, "Order not found", "orderId")
    async with request.app[DATABASE].transaction() as cur:
        order = await cur.fetch_one("SELECT status FROM orders WHERE id = %s FOR NO KEY UPDATE", (order_id,))
        if order is None:
            raise NotFound("Order not found")
        if order["status"] == "cancelled":
            raise Conflict("A cancelled order is not invoiced")
        invoice, created = await invoice_for_order(cur, order_id, due_days=body.due_days)
        if created:
            await record_activity(
                cur,
                type="admin",
                action="Invoice Created",
                actor=current_user(request),
                entity_type="invoice",
                entity_id=invoice["id"],
                description=f"{invoice['invoice_number']}: {invoice['status']}, total {invoice['total']}",
            )
    return ok(invoice)


@routes.route(
    "PUT",
    "/api/admin/invoices/{id}/status",
    access=Access.ADMIN,
    summary="Set status or record a payment",
    body=InvoiceStatusChange,
    responses={200: ChangedInvoice},
    errors=(409,),
)
async def set_invoice_status(request: web.Request, body: InvoiceStatusChange) -> web.Response:
    change = body.model_dump()
    async with request.app[DATABASE].transaction() as cur:
        invoice = await _locked(cur, id_from_path(request, "Invoice not found"))
        if invoice["status"] == "cancelled":
            raise Conflict("A cancelled invoice cannot change status")
        updated = await _apply(cur, invoice, {k: v for k, v in change.items() if v is not None})
        await record_activity(
            cur,
            type="admin",
            action="Invoice Status Changed",
            actor=current_user(request),
            entity_type="invoice",
            entity_id=updated["id"],
            description=f"{updated['invoice_number']}: {updated['status']}, total {updated['total']}",
        )
    return ok(updated)
