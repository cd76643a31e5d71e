"""Encoded responses kept in the worker, dropped by tag when the data behind them changes.

A body is encoded once and served from memory until a change notification (LISTEN/NOTIFY,
see :mod:`jaan.shop.freshness`) drops every entry tagged with what changed.  The cache is
used only while the worker is listening: when the LISTEN connection is down, notifications
could be missed, so it is emptied and bypassed until the listener is back (never trusted alone).
It also serves only until the listener's trust deadline (:attr:`ResponseCache.trusted_until`):
past it, notifications may be running late (an overloaded worker), so look-ups go to the database
while the entries stay and keep taking the notifications as they come; the listener's next proof of
catching up moves the deadline on and they are served again, with nothing lost (:mod:`jaan.db.listen`).
Entries are evicted least recently used first past a byte budget (``response_cache_mb`` per
worker), counted as what an entry costs the worker's heap (its body and the objects that keep
it: key, tags, their index; estimated, and checked against tracemalloc by the tests), so the
budget bounds the worker's memory, not only its bodies.

A body may also be kept with holes that are filled when it is served (:class:`Overlaid`: the
catalogue's stock, :mod:`jaan.shop.stock_overlay`), so a change to what fills them patches the
served body instead of dropping the entry; its ETag follows what is served.
"""

from __future__ import annotations

import asyncio
import functools
import math
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import Protocol

from aiohttp import hdrs, web

from jaan.metrics import (
    RESPONSE_CACHE_DROPS,
    RESPONSE_CACHE_EVICTIONS,
    RESPONSE_CACHE_LOOKUPS,
    Tally,
    cache_counters,
)
from jaan.web.etag import DEFAULT_MAX_AGE, etag_of, matches

_HITS, _MISSES, _BYPASSES = cache_counters("response")
# Per entry kind (tallied: counted on every look-up) and per tag kind (perf/breakdown.py reads them).
_LOOKUPS = Tally(RESPONSE_CACHE_LOOKUPS)
_DROPS = Tally(RESPONSE_CACHE_DROPS)  # tallied too: an order storm drops on every notification
_EVICTIONS = Tally(RESPONSE_CACHE_EVICTIONS)
# What an entry costs beyond its body (measured with tracemalloc on 3.11): the entry, its key, ETag
# and place in the LRU order; and per tag, the tag's string, its place in the entry's tags and in the
# index of keys by tag.
ENTRY_OVERHEAD = 700
TAG_OVERHEAD = 250
DEFAULT_MAX_BYTES = 24 * 1024 * 1024


def entry_kind(key: Hashable) -> str:
    """The kind of answer a key stands for: its first part (("products", ...) -> products), bounded."""
    first = key[0] if isinstance(key, tuple) and key else key
    return str(first)[:40]


def _count_drops(tag: str, entries: int) -> None:
    _DROPS.add(tag.partition(":")[0], amount=entries)  # product:12 -> product, table:orders -> table


class Overlaid(Protocol):
    """A body completed when served, from data kept fresh elsewhere (notifications)."""

    @property
    def size(self) -> int:
        """Bytes it holds, for the cache's budget."""

    def current(self) -> tuple[bytes, str]:
        """The body as it is to be served now, and its ETag."""


@dataclass(frozen=True, slots=True)
class Cached:
    body: bytes  # empty when `overlay` completes the body
    etag: str
    tags: frozenset[str]
    expires_at: float | None = None  # wall-clock seconds; None: until a tag is dropped
    overlay: Overlaid | None = None

    def current(self) -> tuple[bytes, str]:
        """The body to serve and its ETag."""
        return (self.body, self.etag) if self.overlay is None else self.overlay.current()

    @property
    def size(self) -> int:
        """Bytes it costs the worker's heap (estimated)."""
        held = len(self.body) if self.overlay is None else self.overlay.size
        return held + ENTRY_OVERHEAD + TAG_OVERHEAD * len(self.tags)


# What a build returns: the encoded body (or one with holes) and its tags, and optionally when it
# stops being true whatever the database does (an answer that depends on the store's date expires
# at its midnight).
Body = bytes | Overlaid
Built = tuple[Body, Iterable[str]] | tuple[Body, Iterable[str], float]
Build = Callable[[], Awaitable[Built]]


class ResponseCache:
    def __init__(self, max_bytes: int = DEFAULT_MAX_BYTES, clock: Callable[[], float] = time.time) -> None:
        self.max_bytes = max_bytes
        self.clock = clock  # wall-clock seconds, for entries that expire (tests move it)
        self.live = False  # set by the listener: True only while change notifications arrive
        # Monotonic deadline from the listener (inf: none, a cache no listener vouches for in time).
        self.trusted_until = math.inf
        self._entries: OrderedDict[Hashable, Cached] = OrderedDict()
        self._keys_by_tag: dict[str, set[Hashable]] = {}
        self._bytes = 0
        self._building: dict[Hashable, asyncio.Future[Cached | None]] = {}
        # Invalidations are numbered, so a build that raced one is served but not kept.
        self._generation = self._cleared_at = 0
        self._dropped_at: dict[str, int] = {}
        self.hits = self.misses = 0
        # Called whenever the cache empties (what completes overlaid bodies must empty with it).
        self.on_clear: list[Callable[[], None]] = []

    async def fetch(self, key: Hashable, build: Build) -> Cached:
        """The cached response for `key`, built once by `build` (body, tags[, expires_at]) when missing.

        Concurrent misses for one key wait for the first build instead of each querying the
        database (a cold cache under load would otherwise flood the pool).
        """
        while True:
            entry = self.get(key)
            if entry is not None:
                return entry
            pending = self._building.get(key)
            if pending is None:
                return await self._build(key, build)
            # Shielded: this waiter's own cancellation must not cancel the shared build.
            entry = await asyncio.shield(pending)
            if entry is not None:
                return entry
            # The build was cancelled (its request timed out, its worker is draining): that is
            # no answer for this request, which builds again (or waits for whoever does first).

    async def _build(self, key: Hashable, build: Build) -> Cached:
        future: asyncio.Future[Cached | None] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        started = self._generation
        try:
            built = await build()
            body, tags = built[0], frozenset(built[1])
            expires_at = built[2] if len(built) == 3 else None
            if self._changed_since(started, tags):  # built from data that changed meanwhile
                entry = _entry(body, tags, expires_at)
            else:
                entry = self.put(key, body, tags, expires_at)
            future.set_result(entry)
            return entry
        except asyncio.CancelledError:
            future.set_result(None)  # the waiters build again: none of them was cancelled
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters (if any) get it, nobody else needs to
            raise
        finally:
            del self._building[key]

    @property
    def trusted(self) -> bool:
        """Whether entries may be served: listening, and caught up within the listener's deadline."""
        return self.live and time.monotonic() < self.trusted_until

    def get(self, key: Hashable) -> Cached | None:
        trusted = self.trusted
        entry = self._entries.get(key) if trusted else None
        if entry is not None and entry.expires_at is not None and self.clock() >= entry.expires_at:
            self._remove(key)
            entry = None
        if entry is None:
            self.misses += 1
            (_MISSES if trusted else _BYPASSES)()
            _LOOKUPS.add(entry_kind(key), "miss" if trusted else "bypass")
            return None
        self._entries.move_to_end(key)
        self.hits += 1
        _HITS()
        _LOOKUPS.add(entry_kind(key), "hit")
        return entry

    def put(self, key: Hashable, body: Body, tags: Iterable[str], expires_at: float | None = None) -> Cached:
        """Remember an encoded body (while live) and return it with its ETag (prefer :meth:`fetch`)."""
        entry = _entry(body, frozenset(tags), expires_at)
        if not self.live or entry.size > self.max_bytes // 8:
            return entry
        if isinstance(body, bytes):
            # orjson hands back bytes that keep their whole working buffer (4-8 KB, whatever the
            # length): a kept body is copied to its own size, or 5,000 products cost 40 MB a worker.
            entry = Cached(bytes(memoryview(body)), entry.etag, entry.tags, expires_at)
        self._remove(key)
        self._entries[key] = entry
        self._bytes += entry.size
        for tag in entry.tags:
            self._keys_by_tag.setdefault(tag, set()).add(key)
        while self._bytes > self.max_bytes:
            oldest = next(iter(self._entries))
            _EVICTIONS.add(entry_kind(oldest))
            self._remove(oldest)
        return entry

    def drop(self, tag: str) -> None:
        """Forget every entry tagged `tag`."""
        self._generation += 1
        self._dropped_at[tag] = self._generation
        keys = self._keys_by_tag.pop(tag, set())
        for key in keys:
            self._remove(key)
        if keys:
            _count_drops(tag, len(keys))

    def clear(self) -> None:
        self._generation += 1
        self._cleared_at = self._generation
        self._dropped_at.clear()
        if self._entries:
            _count_drops("all", len(self._entries))
        self._entries.clear()
        self._keys_by_tag.clear()
        self._bytes = 0
        for hook in self.on_clear:
            hook()

    def _changed_since(self, generation: int, tags: frozenset[str]) -> bool:
        if self._cleared_at > generation:
            return True
        return any(self._dropped_at.get(tag, 0) > generation for tag in tags)

    def set_live(self, live: bool) -> None:
        """Called by the listener: (re)connected means anything may have changed meanwhile."""
        self.clear()
        self.live = live

    def _remove(self, key: Hashable) -> None:
        entry = self._entries.pop(key, None)
        if entry is None:
            return
        self._bytes -= entry.size
        for tag in entry.tags:
            keys = self._keys_by_tag.get(tag)
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._keys_by_tag[tag]

    def __len__(self) -> int:
        return len(self._entries)

    @property
    def held_bytes(self) -> int:
        """What the kept entries cost (estimated, as budgeted against max_bytes)."""
        return self._bytes


def _entry(body: Body, tags: frozenset[str], expires_at: float | None) -> Cached:
    if isinstance(body, bytes):
        return Cached(body, etag_of(body), tags, expires_at)
    return Cached(b"", "", tags, expires_at, body)


def cached_response(
    request: web.Request, entry: Cached, max_age: int = DEFAULT_MAX_AGE, *, private: bool = False
) -> web.Response:
    """200 with the stored body, or 304 when the client holds it already.

    `private` responses (a signed-in user's data) may be kept by the browser but never by a shared
    cache, and are revalidated on every use.
    """
    control = _PRIVATE if private else _public(max_age)
    body, etag = entry.current()
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match and matches(if_none_match, etag):
        return web.Response(status=304, headers={hdrs.ETAG: etag, hdrs.CACHE_CONTROL: control})
    # Content-Type among the headers rather than content_type=: aiohttp then sets nothing more.
    headers = {hdrs.ETAG: etag, hdrs.CACHE_CONTROL: control, hdrs.CONTENT_TYPE: "application/json"}
    return web.Response(body=body, headers=headers)


_PRIVATE = "private, no-cache"


@functools.cache
def _public(max_age: int) -> str:
    """The Cache-Control of a public answer (made once per max-age: this runs on every cached read)."""
    return f"public, max-age={max_age}, must-revalidate"


RESPONSE_CACHE: web.AppKey[ResponseCache] = web.AppKey("response_cache", ResponseCache)
