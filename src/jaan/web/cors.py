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
from aiohttp.typedefs import Handler, Middleware

from jaan.web.credentials import is_cookie_authenticated
from jaan.web.envelope import failure
from jaan.web.middleware import middleware

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


def cors_middleware(allowed_origins: tuple[str, ...]) -> Middleware:
    allowed = frozenset(o.rstrip("/") for o in allowed_origins)

    def _add_cors_headers(response: web.StreamResponse, origin: str) -> None:
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_ORIGIN] = origin
        response.headers[hdrs.ACCESS_CONTROL_ALLOW_CREDENTIALS] = "true"
        response.headers[hdrs.ACCESS_CONTROL_EXPOSE_HEADERS] = EXPOSE_HEADERS

    @middleware
    async def cors(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get(hdrs.ORIGIN)
        is_allowed = origin is not None and origin in allowed
        is_preflight = (
            request.method == "OPTIONS" and origin is not None and hdrs.ACCESS_CONTROL_REQUEST_METHOD in request.headers
        )
        if is_preflight:
            if not is_allowed:
                response: web.StreamResponse = failure(403, "Origin not allowed")
            else:
                response = web.Response(status=204)
                _add_cors_headers(response, origin)  # type: ignore[arg-type]
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_METHODS] = ALLOW_METHODS
                response.headers[hdrs.ACCESS_CONTROL_ALLOW_HEADERS] = ALLOW_HEADERS
                response.headers[hdrs.ACCESS_CONTROL_MAX_AGE] = "600"
            response.headers[hdrs.VARY] = "Origin"
            return response

        if (
            request.method not in SAFE_METHODS
            and is_cookie_authenticated(request)
            and not is_allowed
            and origin != _own_origin(request)
        ):
            response = failure(403, "Cross-origin request refused")
        else:
            response = await handler(request)
        if is_allowed:
            _add_cors_headers(response, origin)  # type: ignore[arg-type]
        vary = response.headers.get(hdrs.VARY)
        if not vary or "origin" not in vary.lower():
            response.headers[hdrs.VARY] = f"{vary}, Origin" if vary else "Origin"
        return response

    return cors
