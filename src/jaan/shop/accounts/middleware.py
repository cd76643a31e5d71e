"""Who is calling, and may they: the session of a request and the route's access level.

The token comes from an ``Authorization: Bearer`` header or the ``session_token`` cookie (the
existing web client sends both; :mod:`jaan.web.credentials` decides, for the CSRF guard too).
USER routes answer 401 without a live session, ADMIN routes also 403 for a role without admin
access (the permission table in :mod:`roles`).  Public routes do not pay for a session lookup
unless their handler asks for :func:`optional_user`.  Writes and admin routes confirm the
session in PostgreSQL (:func:`must_confirm`); reads take it from the worker's cache.
"""

from __future__ import annotations

from aiohttp import web

from jaan.routes import Access, route_of
from jaan.shop.accounts.roles import may_access
from jaan.shop.accounts.session_cache import SESSION_CACHE, cached_user_for_token, confirmed_user_for_token
from jaan.shop.accounts.sessions import CurrentUser
from jaan.state import DATABASE
from jaan.web.cors import SAFE_METHODS
from jaan.web.credentials import credentials_of
from jaan.web.errors import Forbidden, Unauthorized

_USER: web.RequestKey[CurrentUser | None] = web.RequestKey("current_user")


def token_of(request: web.Request) -> str | None:
    """The session token the request presents, if any (the CSRF guard asks the same function)."""
    credentials = credentials_of(request)
    return credentials.token if credentials else None


def must_confirm(request: web.Request) -> bool:
    """Whether the request's session must be confirmed in PostgreSQL rather than taken from the cache.

    Writes: once a sign-out, role change or password change has committed, no worker lets that
    session change anything, however late its notification.  Reads, admin ones included, trust
    the cache: a revocation answers only once every worker has dropped the session
    (:mod:`jaan.shop.accounts.revocation`), and a worker that cannot tell stops trusting it.
    """
    return request.method not in SAFE_METHODS


async def optional_user(request: web.Request) -> CurrentUser | None:
    """The signed-in user, or None; looked up once per request."""
    if _USER not in request:
        token = token_of(request)
        cache, database = request.app[SESSION_CACHE], request.app[DATABASE]
        if not token:
            request[_USER] = None
        elif must_confirm(request):
            request[_USER] = await confirmed_user_for_token(database, cache, token)
        else:
            request[_USER] = await cached_user_for_token(database, cache, token)
    return request[_USER]


def current_user(request: web.Request) -> CurrentUser:
    """The signed-in user of a USER or ADMIN route (the middleware has checked there is one)."""
    user: CurrentUser | None = request.get(_USER)
    if user is None:
        raise Unauthorized("Unauthorized")
    return user


async def check_access(request: web.Request) -> None:
    """The request pipeline's last step before the handler: 401/403 unless the route's access level is met."""
    route = route_of(request)
    if route is not None and route.access is not Access.PUBLIC:
        user = await optional_user(request)
        if user is None:
            raise Unauthorized("Invalid or expired session" if token_of(request) else "Unauthorized")
        if not may_access(user.role, route.access):
            raise Forbidden("Forbidden: Admin access required")
