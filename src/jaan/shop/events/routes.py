"""The live event routes: ``/api/admin/events`` (admins) and ``/api/events`` (a customer's own).

Each is a WebSocket (resume with ``?since=<id>``) or, with ``Accept: text/event-stream``,
Server-Sent Events (resume with ``Last-Event-ID``, as EventSource does by itself).  The access
middleware has checked the session and role like on every route; a stream authenticated by the
session cookie must also come from an allowed origin (a WebSocket is not bound by CORS, so a
foreign page could otherwise open one with the shopper's cookie).
"""

from __future__ import annotations

from typing import Annotated

from aiohttp import hdrs, web
from pydantic import Field

from jaan.routes import Access, Raw, RouteTable
from jaan.shop.accounts.middleware import current_user, token_of
from jaan.shop.accounts.session_cache import SESSION_CACHE
from jaan.shop.accounts.sessions import hash_token
from jaan.shop.events.feed import EVENT_FEED, Subscriber
from jaan.shop.events.streams import sse_stream, websocket_stream
from jaan.state import DATABASE, SETTINGS
from jaan.web.cors import cookie_from_foreign_origin
from jaan.web.errors import Forbidden, InvalidInput, ServiceUnavailable, Unauthorized
from jaan.web.input import Query

routes = RouteTable("events")

EventId = Annotated[int, Field(ge=0, le=10**18 - 1)]


class StreamQuery(Query):
    since: EventId | None = Field(None, description="resume after this event id (the last one received)")


_HOW = (
    " A WebSocket (resume with ?since=<last id seen>) or, with Accept: text/event-stream, Server-Sent Events"
    " (resume with Last-Event-ID). Each message is one event {id, type, at, data}, ids increasing."
)


STREAM = Raw("text/event-stream", "Server-sent events, one per change, until the client leaves")


@routes.route(
    "GET",
    "/api/admin/events",
    access=Access.ADMIN,
    summary="Live events: orders, invoices, stock, inquiries, purchase-order receipts." + _HOW,
    query=StreamQuery,
    responses={200: STREAM},
)
async def admin_events(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    return await _stream(request, query)


@routes.route(
    "GET",
    "/api/events",
    access=Access.USER,
    summary="Live events of the signed-in customer's own orders and invoices." + _HOW,
    query=StreamQuery,
    responses={200: STREAM},
    errors=(403,),  # a session cookie from a foreign Origin
)
async def my_events(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    return await _stream(request, query)


async def _stream(request: web.Request, query: StreamQuery) -> web.StreamResponse:
    settings, database, feed = request.app[SETTINGS], request.app[DATABASE], request.app[EVENT_FEED]
    if cookie_from_foreign_origin(request, settings.cors_origins):
        raise Forbidden("Cross-origin request refused")
    websocket = web.WebSocketResponse().can_prepare(request).ok
    if not websocket and "text/event-stream" not in request.headers.get(hdrs.ACCEPT, ""):
        raise InvalidInput("Open a WebSocket, or ask for Server-Sent Events with Accept: text/event-stream")
    since = _since(request, query, websocket)
    if feed.closing or not feed.ready:
        raise ServiceUnavailable("This worker is restarting; reconnect")
    user, token = current_user(request), token_of(request)
    assert token is not None  # the access middleware found the session by it
    token_hash = hash_token(token)
    # The access middleware has just found the session, usually in the cache: a reconnecting
    # crowd (after a reload) costs no query per stream.
    expires_at = request.app[SESSION_CACHE].expires_at(token_hash) or await database.fetch_value(
        "SELECT expires_at FROM sessions WHERE token_hash = %s AND expires_at > now()", (token_hash,)
    )
    if expires_at is None:
        raise Unauthorized("Invalid or expired session")
    subscriber = Subscriber(user.id, user.role, token_hash, expires_at, settings.events_buffer)
    if websocket:
        return await websocket_stream(request, feed, database, subscriber, since)
    return await sse_stream(request, feed, database, subscriber, since)


def _since(request: web.Request, query: StreamQuery, websocket: bool) -> int | None:
    """Where a resuming client left off: ``?since=``, or an SSE client's ``Last-Event-ID``."""
    since = query.since
    last_event_id = request.headers.get("Last-Event-ID")
    if since is None and last_event_id is not None and not websocket:
        text = last_event_id.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 18:
            raise InvalidInput("Invalid input", details={"Last-Event-ID": "must be an event id"})
        since = int(text)
    return since
