"""One log line per slow request: its request id, route, total time and the part spent in SQL.

The SQL part is summed by :class:`jaan.db.pool.Cursor` into the request's :class:`SqlClock`
(a context variable, so it follows the request's task and the tasks it starts).  A request that
is slow with little SQL time waited elsewhere: for a pooled connection, a lock, the client, or
the event loop itself.  The request pipeline (:mod:`jaan.web.pipeline`) starts the clock and,
when the request took ``slow_request_time`` seconds or more, calls :func:`log_slow_request`.
"""

from __future__ import annotations

import logging

from aiohttp import web

from jaan.db.pool import SQL_CLOCK, SqlClock
from jaan.web.request_id import REQUEST_ID

log = logging.getLogger("jaan.slow")


def start_sql_clock() -> SqlClock:
    """A fresh SQL clock for this request (none carried over from the request before it)."""
    clock = SqlClock()
    SQL_CLOCK.set(clock)
    return clock


def log_slow_request(request: web.Request, status: int, total: float, clock: SqlClock) -> None:
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
