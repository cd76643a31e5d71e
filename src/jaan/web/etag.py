"""Conditional GETs for public, cacheable responses: an ETag from the body, 304 when it matches.

The ETag is a hash of the JSON body, sent weak (``W/"…"``): the compression middleware may send
the same representation as other bytes (br, gzip, identity), and a 304 must carry the tag the
200 would have had, whatever the encoding (RFC 9110 §8.8.1, §15.4.5).  ``If-None-Match`` is
compared weakly, as RFC 9110 §13.1.2 requires, so a strong tag from elsewhere matches too.
:mod:`jaan.web.response_cache` answers with them; ``must-revalidate`` keeps shared caches from
serving a stale catalogue past ``max-age``.
"""

from __future__ import annotations

import hashlib

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
