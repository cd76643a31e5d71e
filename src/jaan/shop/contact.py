"""The B2B contact form (#10) and the admins' inbox for it (#56–#59)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from jaan.db.pool import Cursor
from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.state import DATABASE
from jaan.web.envelope import json_response, ok
from jaan.web.errors import NotFound
from jaan.web.validation import Choice, Email, Integer, Page, String, parse_body, parse_query, uuid_from_path

routes = RouteTable("contact")

STATUSES = ("new", "read", "in-progress", "resolved", "archived")
FORM_COLUMNS = "id, full_name, company_name, business_email, phone_number, message, status, created_at"
COLUMNS = f"{FORM_COLUMNS}, updated_at, read_at"

SUBMISSION = {
    "fullName": String(min_length=2, max_length=100),
    "companyName": String(min_length=2, max_length=100),
    "businessEmail": Email(),
    "phoneNumber": String(min_length=10, max_length=20, pattern=r"[0-9+()\-.\s]+"),
    "message": String(min_length=10, max_length=2000),
}
INBOX_QUERY = {
    "status": Choice(("all", *STATUSES), default="all"),
    "search": String(max_length=200, required=False),
    "page": Integer(minimum=1, maximum=1_000_000, default=1),
    "perPage": Integer(minimum=1, maximum=100, required=False),
    "per_page": Integer(minimum=1, maximum=100, required=False),
}
STATUS_CHANGE = {"status": Choice(STATUSES)}


@routes.route(
    "POST",
    "/api/contact",
    access=Access.PUBLIC,
    summary="Send the contact / partnership form",
    body=SUBMISSION,
)
async def submit(request: web.Request) -> web.Response:
    form = await parse_body(request, SUBMISSION)
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one(
            "INSERT INTO contact_submissions (full_name, company_name, business_email, phone_number, message)"
            " VALUES (%s, %s, %s, %s, %s)"
            f" RETURNING {FORM_COLUMNS}",
            (
                form["fullName"],
                form["companyName"],
                form["businessEmail"],
                form["phoneNumber"],
                form["message"],
            ),
        )
        assert row is not None
        await record_activity(
            cur,
            type="admin",
            action="Contact Submission Received",
            description=f"{row['full_name']} of {row['company_name']} wrote in",
            entity_type="contact_submission",
            entity_id=row["id"],
        )
    # The spec's shape (#10): 201 with a top-level message beside the envelope.
    return json_response(
        {
            "success": True,
            "message": "Thank you! We will get back to you within one business day.",
            "data": row,
        },
        status=201,
    )


@routes.route(
    "GET",
    "/api/admin/contact-submissions",
    access=Access.ADMIN,
    summary="The contact inbox",
    query=INBOX_QUERY,
)
async def inbox(request: web.Request) -> web.Response:
    query = parse_query(request, INBOX_QUERY)
    per_page = query.get("perPage") or query.get("per_page") or 20
    conditions, params = ["true"], []
    if query["status"] != "all":
        conditions.append("status = %s")
        params.append(query["status"])
    if query.get("search"):
        conditions.append("(full_name ILIKE %s OR company_name ILIKE %s OR business_email ILIKE %s)")
        params += [f"%{escape_like(query['search'])}%"] * 3
    where = " AND ".join(conditions)
    page = Page(query["page"], per_page)
    async with request.app[DATABASE].cursor() as cur:
        rows = await cur.fetch_all(
            f"SELECT {COLUMNS} FROM contact_submissions WHERE {where} ORDER BY created_at DESC, id LIMIT %s OFFSET %s",
            (*params, page.per_page, page.offset),
        )
        total = await cur.fetch_value(f"SELECT count(*) FROM contact_submissions WHERE {where}", params)
    # The original's client reads perPage (#56): it rides along the shared page shape.
    return ok({**page.result(rows, total), "perPage": per_page})


@routes.route("GET", "/api/admin/contact-submissions/{id}", access=Access.ADMIN, summary="One submission")
async def read_submission(request: web.Request) -> web.Response:
    # The first view stamps read_at and moves it from new to read, and shows the stamped row.
    row = await request.app[DATABASE].fetch_one(
        f"UPDATE contact_submissions SET read_at = coalesce(read_at, now()),"
        f" status = CASE WHEN status = 'new' THEN 'read' ELSE status END"
        f" WHERE id = %s RETURNING {COLUMNS}",
        (uuid_from_path(request, "Submission not found"),),
    )
    if row is None:
        raise NotFound("Submission not found")
    return ok(row)


@routes.route(
    "PUT",
    "/api/admin/contact-submissions/{id}",
    access=Access.ADMIN,
    summary="Change a submission's status",
    body=STATUS_CHANGE,
)
async def change_status(request: web.Request) -> web.Response:
    change = await parse_body(request, STATUS_CHANGE)
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one(
            f"UPDATE contact_submissions SET status = %s WHERE id = %s RETURNING {COLUMNS}",
            (change["status"], uuid_from_path(request, "Submission not found")),
        )
        await _audit(cur, request, row, "Contact Submission Updated", f"status set to {change['status']}")
    return ok(row)


@routes.route("DELETE", "/api/admin/contact-submissions/{id}", access=Access.ADMIN, summary="Delete a submission")
async def delete_submission(request: web.Request) -> web.Response:
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one(
            f"DELETE FROM contact_submissions WHERE id = %s RETURNING {COLUMNS}",
            (uuid_from_path(request, "Submission not found"),),
        )
        await _audit(cur, request, row, "Contact Submission Deleted", "deleted")
    return json_response({"success": True, "message": "Submission deleted successfully"})


async def _audit(cur: Cursor, request: web.Request, row: dict[str, Any] | None, action: str, what: str) -> None:
    if row is None:
        raise NotFound("Submission not found")
    await record_activity(
        cur,
        type="admin",
        action=action,
        description=f"Submission from {row['full_name']}: {what}",
        actor=current_user(request),
        entity_type="contact_submission",
        entity_id=row["id"],
    )
