"""The request pipeline: every step a request goes through around its handler, in one middleware.

Each concern is its own module with its own tests; this is only the order they run in, as
plain function calls inside one coroutine.  It used to be eight middlewares, and each layer of
aiohttp's middleware chain costs a coroutine, a partial and an await per request: issue 7
found them holding ~22% of a worker's time on ``GET /api/health``.

Outermost first (each step sees what the steps after it answered):

0. the worker's request watcher (:mod:`jaan.serving.tracking`), when one is installed;
1. metrics (:mod:`.http_metrics`): count every answer, including the ones later steps gave;
2. request id (:mod:`.request_id`): assign it, echo it on the answer;
3. slow requests (:mod:`.slow_requests`): the SQL clock, one line when the request was slow;
4. compression (:mod:`.compression`);
5. CORS and the CSRF guard (:mod:`.cors`): error answers carry CORS headers too;
6. errors (:mod:`.errors`): whatever is raised from here on becomes the JSON error envelope;
7. the request timeout (:mod:`.timeout`): cancel and answer 503;
8. payload limits (:mod:`.limits`);
9. access (the route's access level, checked by the shop's accounts area, passed in).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

from jaan.settings import Settings
from jaan.web import compression, http_metrics
from jaan.web.cors import Cors
from jaan.web.errors import answer_for
from jaan.web.limits import limited
from jaan.web.middleware import middleware
from jaan.web.request_id import HEADER, REQUEST_ID, current_request_id, request_id_of
from jaan.web.slow_requests import log_slow_request, start_sql_clock
from jaan.web.timeout import Deadlines

# Raises Unauthorized or Forbidden when the request may not reach its route.
AccessCheck = Callable[[web.Request], Awaitable[None]]


class RequestWatcher(Protocol):
    """Told when each request starts and ends (the worker's in-flight list and request counter)."""

    def started(self, request: web.Request) -> None: ...

    def finished(self, request: web.Request) -> None: ...


# Sees each answer as the errors step gave it, before CORS and compression (tests check answers there).
AnswerObserver = Callable[[web.Request, web.StreamResponse], None]


class Pipeline:
    """The steps, configured once from the settings; :meth:`handle` is the app's middleware."""

    def __init__(self, settings: Settings, check_access: AccessCheck) -> None:
        self.check_access = check_access
        self.slow_request_time = settings.slow_request_time
        self.compress_min_size = settings.compress_min_size
        self.cors = Cors(settings.cors_origins)
        self.deadlines = Deadlines(settings.request_timeout)
        self.max_body_size = settings.max_body_size
        self.max_upload_size = settings.max_upload_size
        self.answer_observers: list[AnswerObserver] = []
        self.watcher: RequestWatcher | None = None  # the worker's, installed before the app starts

    @middleware
    async def handle(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        # The steps are inlined rather than nested coroutines: each await of a coroutine layer
        # costs a frame on every request.
        started = time.perf_counter()
        status = 500  # unless an answer or an HTTPException says otherwise
        rid = request[REQUEST_ID] = request_id_of(request)
        token = current_request_id.set(rid)
        clock = start_sql_clock() if self.slow_request_time > 0 else None
        watcher = self.watcher
        if watcher is not None:
            watcher.started(request)
        try:
            try:
                # CORS around the errors step: error answers carry CORS headers too.
                origin = request.headers.get(hdrs.ORIGIN)
                response = self.cors.preflight(request, origin)
                if response is None:
                    response = self.cors.refuses(request, origin)
                    if response is None:
                        # The errors step around timeout, payload limits, access and the handler:
                        # what they raise becomes the JSON error answer (a redirect is re-raised).
                        timer = self.deadlines.start(request)
                        try:
                            checked = limited(request, self.max_body_size, self.max_upload_size)
                            await self.check_access(checked)
                            response = await handler(checked)
                        except asyncio.CancelledError:
                            timed_out = timer.timed_out(request)
                            if timed_out is None:
                                raise  # the client went away, or the worker is stopping: not ours to answer
                            response = answer_for(request, timed_out)
                        except Exception as exc:
                            response = answer_for(request, exc)
                        finally:
                            timer.cancel()
                        for observe in self.answer_observers:
                            observe(request, response)
                    self.cors.decorate(response, origin)
            except web.HTTPException as exc:  # a redirect raised past the errors step: it is the answer
                status = exc.status
                if (coding := compression.coding_for(request, exc, self.compress_min_size)) is not None:
                    await compression.compress(exc, coding)
                exc.headers[HEADER] = rid
                raise
            if (coding := compression.coding_for(request, response, self.compress_min_size)) is not None:
                await compression.compress(response, coding)
            response.headers[HEADER] = rid
            status = response.status
            return response
        except asyncio.CancelledError:
            status = 499  # the client went away, or the worker is stopping
            raise
        finally:
            current_request_id.reset(token)
            total = time.perf_counter() - started
            http_metrics.record(request, status, total)
            if clock is not None and total >= self.slow_request_time:
                log_slow_request(request, 500 if status == 499 else status, total, clock)
            if watcher is not None:
                watcher.finished(request)


PIPELINE: web.AppKey[Pipeline] = web.AppKey("pipeline", Pipeline)
