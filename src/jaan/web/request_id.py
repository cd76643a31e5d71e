"""Every request gets an id: the client's ``X-Request-ID`` when it is sane, else a new one.

It is echoed in the response, carried by every log line written while the request is
handled (through a context variable), and shown in the access log.
"""

from __future__ import annotations

import contextvars
import re
import uuid

from aiohttp import web
from aiohttp.typedefs import Handler

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


def request_id_of(request: web.Request) -> str:
    offered = request.headers.get(HEADER, "")
    return offered if _SANE.fullmatch(offered) else uuid.uuid4().hex


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    rid = request_id_of(request)
    request[REQUEST_ID] = rid
    token = current_request_id.set(rid)
    try:
        response = await handler(request)
    except web.HTTPException as exc:  # e.g. a redirect raised past the error middleware
        exc.headers[HEADER] = rid
        raise
    finally:
        current_request_id.reset(token)
    response.headers[HEADER] = rid
    return response
