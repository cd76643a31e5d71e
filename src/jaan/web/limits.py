"""Payload limits: 1 MB by default, more only where a route's declaration allows it.

aiohttp's ``client_max_size`` guards ``request.read()``/``json()``/``post()`` but not code
that reads ``request.content`` directly, and it only trips once the bytes have arrived.
Here a declared ``Content-Length`` over the limit is refused before any of the body is
read, and a body without one (chunked) is counted as it streams in, whichever way the
handler reads it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import hdrs, web
from aiohttp.streams import StreamReader
from aiohttp.typedefs import Handler, Middleware

from jaan.routes import route_of
from jaan.web.errors import InvalidInput, PayloadTooLarge


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"Request body too large (limit {limit} bytes)")


class LimitedStream:
    """``request.content`` that refuses to deliver more than `limit` bytes."""

    def __init__(self, stream: StreamReader, limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._seen = 0

    def _count(self, data: bytes) -> bytes:
        self._seen += len(data)
        if self._seen > self._limit:
            raise _too_large(self._limit)
        return data

    async def read(self, n: int = -1) -> bytes:
        if n < 0:  # read to the end, a chunk at a time, so the limit trips before buffering it all
            parts = []
            while chunk := await self.readany():
                parts.append(chunk)
            return b"".join(parts)
        return self._count(await self._stream.read(n))

    async def readany(self) -> bytes:
        return self._count(await self._stream.readany())

    async def readline(self) -> bytes:
        return self._count(await self._stream.readline())

    async def readuntil(self, separator: bytes = b"\n") -> bytes:
        return self._count(await self._stream.readuntil(separator))

    async def readexactly(self, n: int) -> bytes:
        return self._count(await self._stream.readexactly(n))

    async def readchunk(self) -> tuple[bytes, bool]:
        data, end = await self._stream.readchunk()
        return self._count(data), end

    def iter_chunked(self, n: int) -> Any:
        return _Chunks(lambda: self.read(n))

    def iter_any(self) -> Any:
        return _Chunks(self.readany)

    def unread_data(self, data: bytes) -> None:
        self._seen -= len(data)
        self._stream.unread_data(data)

    def __aiter__(self) -> Any:
        return _Chunks(self.readline)

    def __getattr__(self, name: str) -> Any:  # at_eof, is_eof, exception, ...
        return getattr(self._stream, name)


class _Chunks:
    def __init__(self, read: Any) -> None:
        self._read = read

    def __aiter__(self) -> _Chunks:
        return self

    async def __anext__(self) -> bytes:
        data: bytes = await self._read()
        if not data:
            raise StopAsyncIteration
        return data


def limits_middleware(default_limit: int) -> Middleware:
    @web.middleware
    async def payload_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
        route = route_of(request)
        limit = route.body_limit if route is not None and route.body_limit else default_limit
        declared = request.headers.get(hdrs.CONTENT_LENGTH)
        if declared is not None:
            if not declared.isdigit():
                raise InvalidInput("Invalid Content-Length header")
            if int(declared) > limit:
                raise _too_large(limit)
        if request.body_exists:
            request = request.clone(client_max_size=limit)
            # aiohttp offers no hook for this; the payload attribute is what every reader uses.
            request._payload = LimitedStream(request._payload, limit)  # type: ignore[assignment]
        return await handler(request)

    return payload_limits
