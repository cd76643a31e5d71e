"""Slow clients: a deadline for a request's head and a minimum rate for its body.

aiohttp waits forever for the rest of a request line and headers, and for a body
(the request timeout only starts once a handler runs, and only bounds the handler).
A thousand slowloris sockets would each hold a connection, a parser and a task.

Each connection records when the head it is waiting for began (when the connection
opened, or the first byte after the previous request) and, while a body is arriving,
how many bytes came since the head was complete.  One watchdog per worker walks the
connections once a second and answers 408 (closing the connection) to any that is
late with its head, or whose body averages less than the minimum rate once the grace
period has passed.  Idle keep-alive connections are aiohttp's own keep-alive timeout.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

log = logging.getLogger(__name__)

REQUEST_TIMEOUT_RESPONSE = (
    b"HTTP/1.1 408 Request Timeout\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n"
    b"Connection: close\r\n\r\nRequest Timeout\n"
)


class GuardedRequestHandler(RequestHandler):
    """aiohttp's connection protocol, noting when the current head and body began.

    aiohttp has no public hook for this: it reads the private ``_messages`` and
    ``_request_in_progress`` and wraps ``_handle_request``. setup.cfg pins aiohttp to the minor
    release tested, and ``tests/test_aiohttp_ground.py`` fails loudly when any of them changes.
    """

    def __init__(self, manager: web.Server, guard: ConnectionGuard, **kwargs: Any) -> None:
        super().__init__(manager, **kwargs)
        self.guard = guard
        self.head_since: float | None = None
        self.body_since: float | None = None
        self.body_bytes = 0
        self.body_done: Callable[[], bool] | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The head is due from the moment the connection exists: a socket that never
        # sends a byte is the cheapest slowloris.
        self.head_since = asyncio.get_running_loop().time()
        self.guard.connections.add(self)
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        waiting_for_head = not self._request_in_progress and not self._messages
        if waiting_for_head and self.head_since is None:
            self.head_since = asyncio.get_running_loop().time()
        elif self.body_since is not None:
            self.body_bytes += len(data)
        super().data_received(data)
        if self._messages:
            self.head_since = None

    async def _handle_request(self, request: Any, start_time: Any, request_handler: Any) -> Any:
        self.head_since = None
        content = request.content
        if not content.is_eof():
            self.body_since, self.body_bytes, self.body_done = asyncio.get_running_loop().time(), 0, content.is_eof
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            self.body_since = self.body_done = None

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        """Malformed HTTP is the client's mistake, not ours: one warning line instead of aiohttp's
        ERROR traceback, which let 200 bad requests write 2,400 lines."""
        exc = kwargs.get("exc_info")
        if not isinstance(exc, HttpProcessingError):
            super().log_exception(*args, **kwargs)
            return
        peer = self.transport.get_extra_info("peername") if self.transport is not None else None
        client = peer[0] if isinstance(peer, tuple) else "unknown"
        log.warning("malformed HTTP request from %s answered %s: %s", client, exc.code, _one_line(exc.message))

    def is_idle(self) -> bool:
        """No request being handled or queued (the connection waits for its next head)."""
        return not self._request_in_progress and not self._messages

    def reject_late(self) -> None:
        """Answer 408 and close: the client is too slow with its head or body."""
        if self.transport is not None and not self._request_in_progress:
            self.transport.write(REQUEST_TIMEOUT_RESPONSE)
        self.force_close()


def _one_line(text: str, limit: int = 200) -> str:
    """`text` on one line, control characters escaped, at most `limit` characters: it comes from the client."""
    flat = " ".join(str(text).split())
    escaped = "".join(ch if ch.isprintable() else ch.encode("unicode_escape").decode() for ch in flat)
    return escaped[:limit]


class ConnectionGuard:
    """The watchdog of one worker's connections."""

    def __init__(self, header_timeout: float, body_min_rate: int, interval: float = 1.0) -> None:
        self.header_timeout = header_timeout
        self.body_min_rate = body_min_rate
        self.interval = min(interval, header_timeout / 2)
        self.connections: weakref.WeakSet[GuardedRequestHandler] = weakref.WeakSet()
        self.rejected = 0

    def protocol_factory(self, server: web.Server, **handler_kwargs: Any) -> Callable[[], RequestHandler]:
        """What ``loop.create_server`` calls for each accepted connection."""
        loop = asyncio.get_running_loop()

        def make() -> RequestHandler:
            return GuardedRequestHandler(server, self, loop=loop, **handler_kwargs)

        return make

    async def watch(self) -> None:
        """Close late connections, forever (cancel the task to stop)."""
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self.interval)
            self.sweep(loop.time())

    def sweep(self, now: float) -> None:
        for conn in list(self.connections):
            if conn.transport is None:
                continue
            if conn.head_since is not None and now - conn.head_since > self.header_timeout:
                self.rejected += 1
                conn.reject_late()
            elif self._body_too_slow(conn, now):
                self.rejected += 1
                log.info("closing a connection whose request body arrives slower than %d B/s", self.body_min_rate)
                conn.reject_late()

    def _body_too_slow(self, conn: GuardedRequestHandler, now: float) -> bool:
        if self.body_min_rate <= 0 or conn.body_since is None or conn.body_done is None or conn.body_done():
            return False
        elapsed = now - conn.body_since
        return elapsed > self.header_timeout and conn.body_bytes / elapsed < self.body_min_rate
