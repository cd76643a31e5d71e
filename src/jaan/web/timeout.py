"""The request timeout: a request that takes too long is cancelled and answered 503.

Cancelling the handler cancels the SQL it is waiting on: aiopg closes that connection, the
server notices within ``client_connection_check_interval`` and cancels the statement, and an
open transaction rolls back, so nothing half-written stays.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from jaan.web.errors import ServiceUnavailable

log = logging.getLogger(__name__)

_TIMER: web.RequestKey[asyncio.TimerHandle] = web.RequestKey("request_timeout_timer", asyncio.TimerHandle)


def lift_request_timeout(request: web.Request) -> None:
    """For a long-lived stream (events): its handler runs as long as the client stays, so the
    timeout stops applying once the stream is accepted (before that it guards the handshake)."""
    timer = request.get(_TIMER)
    if timer is not None:
        timer.cancel()


class RequestTimer:
    """What asyncio.timeout does, with one timer and one flag: this runs on every request.

    Started when the request pipeline begins the handler; ``cancel()`` once it is done.  When the
    timer fires it cancels the request's task; the pipeline, catching that CancelledError, asks
    :meth:`timed_out` whether it was ours to turn into a 503 (or the client went away, or the
    worker is stopping).
    """

    __slots__ = ("expired", "handle", "seconds", "task")

    def __init__(self, request: web.Request, seconds: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.seconds = seconds
        self.expired = False
        self.handle = request[_TIMER] = asyncio.get_running_loop().call_later(seconds, self._expire)

    def _expire(self) -> None:
        self.expired = True
        self.task.cancel()

    def cancel(self) -> None:
        self.handle.cancel()

    def timed_out(self, request: web.Request) -> ServiceUnavailable | None:
        """After a CancelledError: the 503 to raise instead when it was the timer's, else None (re-raise)."""
        if not self.expired:
            return None
        self.task.uncancel()
        log.warning("%s %s timed out after %ss and was cancelled", request.method, request.path, self.seconds)
        return ServiceUnavailable("Request timed out")
