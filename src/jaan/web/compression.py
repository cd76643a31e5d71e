"""Response compression (br, gzip) negotiated from Accept-Encoding per RFC 9110.

Our own rather than aiohttp-compress, which matches "gzip" as a substring (so `gzip;q=0` gets gzip),
sends no `Vary: Accept-Encoding`, compresses bodies of any size and type, and offers no brotli.
"""

from __future__ import annotations

import asyncio
import gzip
import re
from collections.abc import Callable

import brotli
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler, Middleware
from multidict import CIMultiDict

from jaan.web.middleware import middleware

__all__ = ["EXECUTOR_THRESHOLD", "coding_for", "compress", "compression_middleware", "negotiate"]

# Compressing this much takes milliseconds; above it a thread keeps other requests moving.
EXECUTOR_THRESHOLD = 64 * 1024

# Dynamic content is compressed on every request: these levels get most of the size win
# (gzip 9 / brotli 11 save a few percent more) for a fraction of the CPU.
_GZIP_LEVEL = 5
_BROTLI_QUALITY = 4

_QVALUE = re.compile(r"0(\.\d{0,3})?|1(\.0{0,3})?")

# An allow-list: an unknown type is more often already-compressed binary than text.
_COMPRESSIBLE_TYPES = frozenset(
    {
        "application/json",
        "application/javascript",
        "application/ecmascript",
        "application/xml",
        "application/x-ndjson",
        "image/svg+xml",
    }
)


def _gzip(data: bytes) -> bytes:
    # mtime=0: the same body always gives the same bytes.
    return gzip.compress(data, compresslevel=_GZIP_LEVEL, mtime=0)


def _brotli(data: bytes) -> bytes:
    out: bytes = brotli.compress(data, quality=_BROTLI_QUALITY)
    return out


_ORIGIN_AND_ENCODING = "Origin, " + hdrs.ACCEPT_ENCODING
_COMPRESSORS: dict[str, Callable[[bytes], bytes]] = {"br": _brotli, "gzip": _gzip}


def _weights(accept_encoding: str) -> dict[str, float]:
    weights: dict[str, float] = {}
    for member in accept_encoding.split(","):
        coding, *params = (part.strip() for part in member.split(";"))
        q: float | None = 1.0
        for name, _, value in (param.partition("=") for param in params):
            if name.strip().lower() == "q":
                # A malformed weight makes the member unusable, not silently q=1.
                q = float(value) if _QVALUE.fullmatch(value.strip()) else None
        if coding and q is not None:
            coding = coding.lower()
            weights["gzip" if coding == "x-gzip" else coding] = q  # RFC 9110 §8.4.1.3
    return weights


def negotiate(accept_encoding: str) -> str | None:
    """The coding to send for this Accept-Encoding value: "br", "gzip" or None (identity)."""
    weights = _weights(accept_encoding)
    star = weights.get("*", 0.0)  # "*" stands for every coding the client did not name
    # Identity is always acceptable, but only competes with br/gzip when the client weighed it.
    identity = weights.get("identity", star)
    best, best_q = None, 0.0
    for coding in ("br", "gzip"):  # br first, so on equal q it wins: smaller output
        q = weights.get(coding, star)
        if q > best_q and q >= identity:
            best, best_q = coding, q
    return best


def _is_compressible(content_type: str) -> bool:
    ctype = content_type.lower()
    return ctype.startswith("text/") or ctype in _COMPRESSIBLE_TYPES or ctype.endswith(("+json", "+xml"))


def _add_vary(headers: CIMultiDict[str]) -> None:
    vary = headers.get(hdrs.VARY)
    # The usual cases, on every response, without parsing: none yet, or the CORS step's alone.
    if vary is None:
        headers[hdrs.VARY] = hdrs.ACCEPT_ENCODING
        return
    if vary == "Origin":
        headers[hdrs.VARY] = _ORIGIN_AND_ENCODING
        return
    tokens = [t.strip() for value in headers.getall(hdrs.VARY, ()) for t in value.split(",") if t.strip()]
    if "*" in tokens or any(t.lower() == "accept-encoding" for t in tokens):
        return
    headers[hdrs.VARY] = ", ".join([*tokens, hdrs.ACCEPT_ENCODING])


def coding_for(request: web.Request, resp: web.StreamResponse, min_size: int) -> str | None:
    """Add ``Vary: Accept-Encoding``, and say which coding to compress `resp` with (None: send as is)."""
    if resp.prepared:  # headers already on the wire
        return None
    _add_vary(resp.headers)
    if not isinstance(resp, web.Response) or resp.chunked or resp.compression:
        return None  # streams, and handlers that asked aiohttp to compress for them
    body = resp.body
    if not isinstance(body, (bytes, bytearray)) or len(body) < min_size:
        return None
    # 1xx/204/304 have no body; a 206 body is a byte range of the identity representation.
    if resp.status < 200 or resp.status in (204, 206, 304):
        return None
    accept_encoding = request.headers.get(hdrs.ACCEPT_ENCODING)
    if not accept_encoding:  # sent as is, as negotiate("") says, without parsing (most API clients)
        return None
    if hdrs.CONTENT_ENCODING in resp.headers or not _is_compressible(resp.content_type):
        return None
    return negotiate(accept_encoding)


async def compress(resp: web.StreamResponse, coding: str) -> None:
    """Compress the body of `resp` (one :func:`coding_for` chose) with `coding`."""
    assert isinstance(resp, web.Response) and isinstance(resp.body, (bytes, bytearray))
    body = bytes(resp.body)
    compressor = _COMPRESSORS[coding]
    if len(body) > EXECUTOR_THRESHOLD:
        compressed = await asyncio.get_running_loop().run_in_executor(None, compressor, body)
    else:
        compressed = compressor(body)
    resp.body = compressed
    resp.headers[hdrs.CONTENT_ENCODING] = coding
    # The body setter leaves an explicit Content-Length alone; without one aiohttp uses len(body).
    resp.headers.popall(hdrs.CONTENT_LENGTH, None)
    # A strong ETag names exact bytes, which we just changed (RFC 9110 §8.8.3); nginx does the same.
    etag = resp.headers.get(hdrs.ETAG)
    if etag and not etag.startswith("W/"):
        resp.headers[hdrs.ETAG] = "W/" + etag


def compression_middleware(min_size: int = 1024) -> Middleware:
    """Compression alone, as a middleware (the service runs it as a step of :mod:`jaan.web.pipeline`)."""

    @middleware
    async def compress_answer(request: web.Request, handler: Handler) -> web.StreamResponse:
        try:
            resp = await handler(request)
        except web.HTTPException as exc:  # a raised error is the response in aiohttp 3
            if (coding := coding_for(request, exc, min_size)) is not None:
                await compress(exc, coding)
            raise
        if (coding := coding_for(request, resp, min_size)) is not None:
            await compress(resp, coding)
        return resp

    return compress_answer
