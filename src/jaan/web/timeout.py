"""The request timeout: a request that takes too long is cancelled and answered 503.

Cancelling the handler cancels the SQL it is waiting on: aiopg closes that connection, the
server notices within ``client_connection_check_interval`` and cancels the statement, and an
open transaction rolls back, so nothing half-written stays.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web
from aiohttp.typedefs import Handler, Middleware

from jaan.web.errors import ServiceUnavailable
from jaan.web.middleware import middleware

log = logging.getLogger(__name__)

_TIMER: web.RequestKey[asyncio.TimerHandle] = web.RequestKey("request_timeout_timer", asyncio.TimerHandle)


def lift_request_timeout(request: web.Request) -> None:
    """For a long-lived stream (events): its handler runs as long as the client stays, so the
    timeout stops applying once the stream is accepted (before that it guards the handshake)."""
    timer = request.get(_TIMER)
    if timer is not None:
        timer.cancel()


def timeout_middleware(seconds: float) -> Middleware:
    @middleware
    async def request_timeout(request: web.Request, handler: Handler) -> web.StreamResponse:
        # What asyncio.timeout does, with one timer and one flag: this runs on every request.
        task = asyncio.current_task()
        assert task is not None
        expired = False

        def expire() -> None:
            nonlocal expired
            expired = True
            task.cancel()

        timer = request[_TIMER] = asyncio.get_running_loop().call_later(seconds, expire)
        try:
            return await handler(request)
        except asyncio.CancelledError:
            if not expired:
                raise  # the client went away, or the worker is stopping: not ours to answer for
            task.uncancel()
            log.warning("%s %s timed out after %ss and was cancelled", request.method, request.path, seconds)
            raise ServiceUnavailable("Request timed out") from None
        finally:
            timer.cancel()

    return request_timeout
