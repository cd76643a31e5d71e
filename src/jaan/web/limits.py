"""Payload limits: 1 MB by default, more only where a route's declaration allows it.

aiohttp's ``client_max_size`` guards ``request.read()``/``json()``/``post()`` but not code
that reads ``request.content`` directly, and it only trips once the bytes have arrived.
Here a declared ``Content-Length`` over the limit is refused before any of the body is
read, and a body without one (chunked) is counted as it streams in, whichever way the
handler reads it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import hdrs, web
from aiohttp.streams import AsyncStreamIterator, ChunkTupleAsyncStreamIterator, StreamReader

from jaan.routes import route_of
from jaan.web.errors import InvalidInput, PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body too large (limit {limit} bytes)")


class LimitedStream:
    """``request.content`` that refuses to deliver a body past `limit` bytes.

    Every read goes through the real stream (whatever its signature in this aiohttp release),
    then checks the bytes received so far; the iterators are rebuilt on the checked reads.
    """

    def __init__(self, stream: StreamReader, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    def _checked(self, read: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
        async def checked_read(*args: Any, **kwargs: Any) -> Any:
            result = await read(*args, **kwargs)
            if self._stream.total_bytes > self._limit:
                raise _too_large(self._limit)
            return result

        return checked_read

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._stream, name)
        return self._checked(attribute) if name.startswith("read") else attribute

    def iter_chunked(self, n: int) -> AsyncStreamIterator[bytes]:
        return AsyncStreamIterator(lambda: self._checked(self._stream.read)(n))

    def iter_any(self) -> AsyncStreamIterator[bytes]:
        return AsyncStreamIterator(self._checked(self._stream.readany))

    def iter_chunks(self) -> ChunkTupleAsyncStreamIterator:
        return ChunkTupleAsyncStreamIterator(self)  # type: ignore[arg-type]  # calls our readchunk

    def __aiter__(self) -> AsyncStreamIterator[bytes]:
        return AsyncStreamIterator(self._checked(self._stream.readline))


def limited(request: web.Request, default_limit: int, ceiling: int) -> web.Request:
    """The request with its body limited: `default_limit`, or the route's declared limit capped at `ceiling`.

    Raises InvalidInput or PayloadTooLarge for a declared Content-Length that is bad or too large.
    """
    route = route_of(request)
    limit = min(route.body_limit, ceiling) if route is not None and route.body_limit else default_limit
    declared = request.headers.get(hdrs.CONTENT_LENGTH)
    if declared is not None:
        if not declared.isdigit():
            raise InvalidInput("Invalid Content-Length header")
        if int(declared) > limit:
            raise _too_large(limit)
    if request.body_exists:
        request = request.clone(client_max_size=limit)
        # aiohttp offers no hook for this; the private payload attribute is what every reader
        # uses (tests/test_aiohttp_ground.py fails loudly if it changes).
        request._payload = LimitedStream(request._payload, limit)  # type: ignore[assignment]
    return request
