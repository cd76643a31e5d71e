"""The B2B contact form (#10) and the admins' inbox for it (#56–#59)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal, get_args

from aiohttp import web

from jaan.db.sql import escape_like, insert_sql
from jaan.routes import Access, RouteTable
from jaan.shop.abuse import count_request
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.state import DATABASE, SETTINGS
from jaan.web.answers import Done, Envelope, Page, Shape
from jaan.web.client_address import client_address, limit_key
from jaan.web.envelope import json_response, ok
from jaan.web.errors import NotFound
from jaan.web.fields import Email, Text, Uuid
from jaan.web.input import Body, FormBody, uuid_from_path
from jaan.web.paging import Paging, PerPage, fetch_page

routes = RouteTable("contact")

STATUSES = ("new", "read", "in-progress", "resolved", "archived")
FORM_COLUMNS = "id, full_name, company_name, business_email, phone_number, message, status, created_at"
COLUMNS = f"{FORM_COLUMNS}, updated_at, read_at"

SubmissionStatus = Literal["new", "read", "in-progress", "resolved", "archived"]
assert get_args(SubmissionStatus) == STATUSES


class ContactForm(FormBody):
    """The contact / partnership form."""

    full_name: Annotated[str, Text(2, 100)]
    company_name: Annotated[str, Text(2, 100)]
    business_email: Email
    phone_number: Annotated[str, Text(10, 20, pattern=r"^[0-9+()\-.\s]+$")]
    message: Annotated[str, Text(10, 2000)]


class InboxQuery(Paging):
    status: Literal["all", SubmissionStatus] = "all"
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any
    perPage: PerPage | None = None


class StatusChange(Body):
    status: SubmissionStatus


class Submission(Shape):
    id: uuid.UUID
    full_name: str
    company_name: str
    business_email: str
    phone_number: str
    message: str
    status: SubmissionStatus
    created_at: dt.datetime


class Received(Envelope[Submission]):
    """Received (the spec's top-level message beside the envelope)."""

    message: str


class InboxPage(Page[Submission]):
    perPage: int


class Inbox(Shape):
    """One page of the inbox; the original client reads ``perPage``."""

    success: Literal[True]
    data: InboxPage


class OneSubmission(Envelope[Submission]):
    """One submission."""


class Deleted(Done):
    """Deleted."""

    message: str


@routes.route(
    "POST",
    "/api/contact",
    access=Access.PUBLIC,
    summary="Send the contact / partnership form",
    body=ContactForm,
    responses={201: Received},
    errors=(429,),
)
async def submit(request: web.Request, body: ContactForm) -> web.Response:
    settings = request.app[SETTINGS]
    address = limit_key(client_address(request))
    await count_request(
        request.app[DATABASE], "contact", address, settings.contact_max_per_address, settings.abuse_window
    )
    form = body.model_dump()
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one(insert_sql("contact_submissions", form, FORM_COLUMNS), form)
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
    query=InboxQuery,
    responses={200: Inbox},
)
async def inbox(request: web.Request, query: InboxQuery) -> web.Response:
    if query.perPage is not None:  # the original client's name wins
        query = query.model_copy(update={"per_page": query.perPage})
    conditions: list[str] = ["true"]
    params: list[str] = []
    if query.status != "all":
        conditions.append("status = %s")
        params.append(query.status)
    if query.search:
        conditions.append("(full_name ILIKE %s OR company_name ILIKE %s OR business_email ILIKE %s)")
        params += [f"%{escape_like(query.search)}%"] * 3
    where = " AND ".join(conditions)
    async with request.app[DATABASE].cursor() as cur:
        rows, total = await fetch_page(
            cur,
            query,
            f"SELECT {COLUMNS} FROM contact_submissions WHERE {where} ORDER BY created_at DESC, id",
            f"SELECT count(*) FROM contact_submissions WHERE {where}",
            params,
        )
    # The original's client reads perPage (#56): it rides along the shared page shape.
    return ok({**query.result(rows, total), "perPage": query.per_page})


@routes.route(
    "GET",
    "/api/admin/contact-submissions/{id}",
    access=Access.ADMIN,
    summary="One submission",
    responses={200: OneSubmission},
    path_params={"id": Uuid},
)
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
    body=StatusChange,
    responses={200: OneSubmission},
    path_params={"id": Uuid},
)
async def change_status(request: web.Request, body: StatusChange) -> web.Response:
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one(
            f"UPDATE contact_submissions SET status = %s WHERE id = %s RETURNING {COLUMNS}",
            (body.status, uuid_from_path(request, "Submission not found")),
        )
        if row is None:
            raise NotFound("Submission not found")
        await record_activity(
            cur,
            type="admin",
            action="Contact Submission Updated",
            description=f"Submission from {row['full_name']}: status set to {body.status}",
            actor=current_user(request),
            entity_type="contact_submission",
            entity_id=row["id"],
        )
    return ok(row)


@routes.route(
    "DELETE",
    "/api/admin/contact-submissions/{id}",
    access=Access.ADMIN,
    summary="Delete a submission",
    responses={200: Deleted},
    path_params={"id": Uuid},
)
async def delete_submission(request: web.Request) -> web.Response:
    async with request.app[DATABASE].transaction() as cur:
        row = await cur.fetch_one(
            f"DELETE FROM contact_submissions WHERE id = %s RETURNING {COLUMNS}",
            (uuid_from_path(request, "Submission not found"),),
        )
        if row is None:
            raise NotFound("Submission not found")
        await record_activity(
            cur,
            type="admin",
            action="Contact Submission Deleted",
            description=f"Submission from {row['full_name']}: deleted",
            actor=current_user(request),
            entity_type="contact_submission",
            entity_id=row["id"],
        )
    return json_response({"success": True, "message": "Submission deleted successfully"})
