"""How a request presents its session token: the one answer authentication and the CSRF guard share.

An ``Authorization: Bearer <token>`` header wins; any other Authorization (``Basic …``, which a
browser adds by itself behind HTTP Basic auth, or ``Bearer`` with nothing after it) is not a
token, and the ``session_token`` cookie is used instead.  Whatever authenticates by the cookie is
exposed to CSRF, so the guard must ask this function, never guess from the headers itself.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from aiohttp import hdrs, web

SESSION_COOKIE = "session_token"


class Carrier(enum.Enum):
    BEARER = "bearer"  # sent deliberately by a script or client: not exposed to CSRF
    COOKIE = "cookie"  # sent by the browser on its own: exposed to CSRF


@dataclass(frozen=True)
class Credentials:
    token: str
    carrier: Carrier


def bearer_token(request: web.Request) -> str | None:
    authorization = request.headers.get(hdrs.AUTHORIZATION, "")
    if authorization[:7].lower() == "bearer " and _plausible(authorization[7:].strip()):
        return authorization[7:].strip()
    return None


def _plausible(token: str) -> bool:
    """Our tokens are printable ASCII; anything else (invalid UTF-8 arrives as lone surrogates)
    names no session, so it is treated as absent rather than hashed."""
    return token != "" and token.isascii() and token.isprintable()


def credentials_of(request: web.Request) -> Credentials | None:
    """The session token the request presents and how, or None."""
    token = bearer_token(request)
    if token is not None:
        return Credentials(token, Carrier.BEARER)
    cookie = request.cookies.get(SESSION_COOKIE)
    return Credentials(cookie, Carrier.COOKIE) if cookie and _plausible(cookie) else None


def is_cookie_authenticated(request: web.Request) -> bool:
    credentials = credentials_of(request)
    return credentials is not None and credentials.carrier is Carrier.COOKIE
