"""CORS for the allowed origins of the settings, and the CSRF guard that rides on it.

Browsers may call the API with credentials only from an allowed origin.  A state-changing
request authenticated by the ``session_token`` cookie must carry an ``Origin`` that is allowed
(or the API's own): a cross-site form or script cannot borrow a shopper's cookie, and a
client that sends no ``Origin`` authenticates with a Bearer token instead.  Requests
authenticated by a Bearer token are not exposed to CSRF and are not checked.  Which of the two
authenticates a request is decided by :func:`jaan.web.credentials.credentials_of`, the function
authentication itself uses (an ``Authorization: Basic`` header does not make a cookie safe).
"""

from __future__ import annotations

from aiohttp import hdrs, web

from jaan.web.credentials import is_cookie_authenticated
from jaan.web.envelope import failure

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
ALLOW_METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, X-Request-ID"
EXPOSE_HEADERS = "X-Request-ID, Retry-After"


def _own_origin(request: web.Request) -> str:
    return f"{request.scheme}://{request.host}"


def cookie_from_foreign_origin(request: web.Request, allowed_origins: tuple[str, ...]) -> bool:
    """A request authenticated by the session cookie whose Origin is neither allowed nor our own.

    The CSRF guard applies this rule to state-changing methods; an event stream (a WebSocket
    above all, which no CORS check protects) applies it to its GET.
    """
    if not is_cookie_authenticated(request):
        return False
    origin = request.headers.get(hdrs.ORIGIN)
    return origin not in {o.rstrip("/") for o in allowed_origins} and origin != _own_origin(request)


class Cors:
    """The CORS and CSRF steps of the request pipeline, for the allowed origins of the settings.

    Before the handler: :meth:`preflight` answers a preflight by itself, :meth:`refuses` says
    whether a cookie-authenticated write from a foreign origin must be refused.  After it:
    :meth:`decorate` adds the CORS headers to the answer (error answers included, or a browser
    could not read them).
    """

    def __init__(self, allowed_origins: tuple[str, ...]) -> None:
        self.allowed = frozenset(o.rstrip("/") for o in allowed_origins)

    def _add_cors_headers(self, response: web.StreamResponse, origin: str) -> None:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS

    def preflight(self, request: web.Request, origin: str | None) -> web.StreamResponse | None:
        """The answer to a CORS preflight, or None when the request is not one."""
        if request.method != "OPTIONS" or origin is None or hdrs.ACCESS_CONTROL_REQUEST_METHOD not in request.headers:
            return None
        if origin not in self.allowed:
            response: web.StreamResponse = failure(403, "Origin not allowed")
        else:
            response = web.Response(status=204)
            self._add_cors_headers(response, origin)
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOW_METHODS
            response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOW_HEADERS
            response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
        response.headers[hdrs.VARY] = "Origin"
        return response

    def refuses(self, request: web.Request, origin: str | None) -> web.Response | None:
        """The CSRF guard: the 403 for a cookie-authenticated write from a foreign origin, else None."""
        if (
            request.method not in SAFE_METHODS
            and is_cookie_authenticated(request)
            and (origin is None or origin not in self.allowed)
            and origin != _own_origin(request)
        ):
            return failure(403, "Cross-origin request refused")
        return None

    def decorate(self, response: web.StreamResponse, origin: str | None) -> None:
        """The CORS headers of an allowed origin, and ``Vary: Origin`` on every answer."""
        if origin is not None and origin in self.allowed:
            self._add_cors_headers(response, origin)
        vary = response.headers.get(hdrs.VARY)
        if not vary or "origin" not in vary.lower():
            response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"
