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


def lift_request_timeout(request: web.Request) -> None:
    """For a long-lived stream (events): its handler runs as long as the client stays, so the
    timeout stops applying once the stream is accepted (before that it guards the handshake)."""
    timer = request.get(_TIMER)
    if timer is not None:
        timer.cancel()


class Deadlines:
    """The request timeouts of one app: one loop timer checks every running request's deadline.

    ``asyncio.timeout`` or a ``call_later`` per request makes and cancels a timer per request
    (under uvloop a libuv handle allocated, started, stopped and closed: ~3% of a worker's time
    on ``GET /api/health``); here a request costs a set insert and removal.  A timeout needs no
    millisecond precision: the deadlines are checked every ``tick`` (a tenth of the timeout, at
    most a second) while requests run, so a request is cancelled between its timeout and one
    tick later.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.tick = min(1.0, seconds / 10)
        self.running: set[RequestTimer] = set()
        self._check: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None

    def start(self, request: web.Request) -> RequestTimer:
        """The timer of a request whose handler starts now (``cancel()`` it once it is done)."""
        loop = asyncio.get_running_loop()
        timer = request[_TIMER] = RequestTimer(self, loop.time() + self.seconds)
        self.running.add(timer)
        if self._check is None or self._check[0] is not loop:
            self._check = (loop, loop.call_later(self.tick, self._sweep))
        return timer

    def _sweep(self) -> None:
        if self._check is None:
            return
        loop, self._check = self._check[0], None
        now = loop.time()
        for timer in [timer for timer in self.running if timer.deadline <= now]:
            timer.expire()
        if self.running:  # idle: no timer until the next request starts one
            self._check = (loop, loop.call_later(self.tick, self._sweep))


class RequestTimer:
    """One request's deadline (see :class:`Deadlines`): what asyncio.timeout does, with a flag.

    When its deadline passes, it cancels the request's task; the pipeline, catching that
    CancelledError, asks :meth:`timed_out` whether it was ours to turn into a 503 (or the client
    went away, or the worker is stopping).
    """

    __slots__ = ("deadline", "deadlines", "expired", "task")

    def __init__(self, deadlines: Deadlines, deadline: float) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.task = task
        self.deadlines = deadlines
        self.deadline = deadline
        self.expired = False

    def expire(self) -> None:
        self.expired = True
        self.cancel()
        self.task.cancel()

    def cancel(self) -> None:
        self.deadlines.running.discard(self)

    def timed_out(self, request: web.Request) -> ServiceUnavailable | None:
        """After a CancelledError: the 503 to raise instead when it was the timer's, else None (re-raise)."""
        if not self.expired:
            return None
        self.task.uncancel()
        log.warning("%s %s timed out after %ss and was cancelled", request.method, request.path, self.deadlines.seconds)
        return ServiceUnavailable("Request timed out")


_TIMER: web.RequestKey[RequestTimer] = web.RequestKey("request_timeout_timer", RequestTimer)
