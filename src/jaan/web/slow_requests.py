"""One log line per slow request: its request id, route, total time and the part spent in SQL.

The SQL part is summed by :class:`jaan.db.pool.Cursor` into the request's :class:`SqlClock`
(a context variable, so it follows the request's task and the tasks it starts).  A request that
is slow with little SQL time waited elsewhere: for a pooled connection, a lock, the client, or
the event loop itself.
"""

from __future__ import annotations

import logging
import time

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from jaan.db.pool import SQL_CLOCK, SqlClock
from jaan.web.middleware import middleware
from jaan.web.request_id import REQUEST_ID

log = logging.getLogger("jaan.slow")


def slow_requests_middleware(threshold: float) -> Middleware:
    """Log requests that take ``threshold`` seconds or more (the setting ``slow_request_time``)."""

    @middleware
    async def slow_requests(request: web.Request, handler: Handler) -> web.StreamResponse:
        clock = SqlClock()
        SQL_CLOCK.set(clock)
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            total = time.perf_counter() - started
            if total >= threshold:
                resource = request.match_info.route.resource
                log.warning(
                    "slow request rid=%s %s %s -> %d: %.3fs total, %.3fs in SQL (%d statements)",
                    request.get(REQUEST_ID, "-"),
                    request.method,
                    resource.canonical if resource is not None else request.path,
                    status,
                    total,
                    clock.seconds,
                    clock.statements,
                )

    return slow_requests
