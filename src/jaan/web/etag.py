"""Conditional GETs for public, cacheable responses: an ETag from the body, 304 when it matches.

The ETag is a hash of the JSON body, sent weak (``W/"…"``): the compression middleware may send
the same representation as other bytes (br, gzip, identity), and a 304 must carry the tag the
200 would have had, whatever the encoding (RFC 9110 §8.8.1, §15.4.5).  ``If-None-Match`` is
compared weakly, as RFC 9110 §13.1.2 requires, so a strong tag from elsewhere matches too.
The 304 costs the same query as a 200 but spares the bandwidth and the client's parsing;
``must-revalidate`` keeps shared caches from serving a stale catalogue past ``max-age``.
"""

from __future__ import annotations

import hashlib

from aiohttp import hdrs, web

DEFAULT_MAX_AGE = 30  # seconds a client or proxy may reuse a catalogue response unasked


def etag_of(body: bytes) -> str:
    """The (weak) ETag of a body: a quoted 128-bit BLAKE2b digest."""
    return 'W/"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"'


def _opaque(tag: str) -> str:
    tag = tag.strip()
    return tag[2:] if tag[:2] in ("W/", "w/") else tag


def matches(if_none_match: str, etag: str) -> bool:
    """Whether an If-None-Match header value names `etag` (weak comparison; ``*`` names any)."""
    wanted = _opaque(etag)
    return any(t.strip() == "*" or _opaque(t) == wanted for t in if_none_match.split(",") if t.strip())


def with_etag(request: web.Request, response: web.Response, max_age: int = DEFAULT_MAX_AGE) -> web.Response:
    """Tag a 200 response for caching; answer 304 Not Modified when the client already holds it."""
    body = response.body
    if response.status != 200 or not isinstance(body, bytes | bytearray):
        return response
    etag = etag_of(bytes(body))
    headers = {
        hdrs.ETAG: etag,
        hdrs.CACHE_CONTROL: f"public, max-age={max_age}, must-revalidate",
    }
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if request.method in (hdrs.METH_GET, hdrs.METH_HEAD) and if_none_match and matches(if_none_match, etag):
        return web.Response(status=304, headers=headers)
    response.headers.update(headers)
    return response
