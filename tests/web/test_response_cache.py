"""The response cache: one build per key under concurrency, nothing stale kept, bounded in bytes."""

from __future__ import annotations

import asyncio

import pytest

from jaan.metrics import RESPONSE_CACHE_DROPS, RESPONSE_CACHE_EVICTIONS, RESPONSE_CACHE_LOOKUPS, flush_tallies
from jaan.web.response_cache import ResponseCache


@pytest.fixture
def cache() -> ResponseCache:
    cache = ResponseCache(max_bytes=100_000)
    cache.set_live(True)
    return cache


async def test_concurrent_misses_build_once(cache):
    builds = 0

    async def build():
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.05)
        return b'{"n":1}', ["product:1"]

    entries = await asyncio.gather(*(cache.fetch("k", build) for _ in range(50)))
    assert builds == 1 and len({entry.etag for entry in entries}) == 1


async def test_a_build_that_raced_an_invalidation_is_served_but_not_kept(cache):
    async def build():
        cache.drop("product:7")  # the notification arrives while the query runs
        return b"old", ["product:7"]

    entry = await cache.fetch("k", build)
    assert entry.body == b"old" and cache.get("k") is None


async def test_dropping_a_tag_drops_only_its_entries(cache):
    cache.put("a", b"1", ["product:1"])
    cache.put("b", b"2", ["product:2"])
    cache.drop("product:1")
    assert cache.get("a") is None and cache.get("b") is not None


async def test_nothing_is_kept_or_served_while_not_live(cache):
    cache.put("a", b"1", [])
    cache.set_live(False)
    assert cache.get("a") is None
    cache.put("b", b"2", [])
    cache.set_live(True)
    assert cache.get("b") is None


async def test_past_the_listeners_deadline_entries_are_not_served_but_kept_and_still_dropped(cache):
    """Issue 14: a late proof of catching up pauses the cache; it does not empty it."""
    import time

    cache.trusted_until = time.monotonic() + 3600
    cache.put("a", b"1", ["product:1"])
    cache.put("b", b"2", ["product:2"])
    cache.trusted_until = time.monotonic() - 1  # the listener's deadline passed without a new proof
    assert cache.get("a") is None and cache.get("b") is None  # bypassed: notifications may be late
    assert len(cache) == 2
    cache.drop("product:1")  # a late notification still arrives, and still drops
    cache.trusted_until = time.monotonic() + 3600  # caught up again
    assert cache.get("a") is None
    found = cache.get("b")
    assert found is not None and found.body == b"2"


async def test_a_failed_build_reaches_every_waiter_and_caches_nothing(cache):
    async def build():
        await asyncio.sleep(0.01)
        raise RuntimeError("database down")

    results = await asyncio.gather(*(cache.fetch("k", build) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, RuntimeError) for r in results) and cache.get("k") is None


async def test_a_cancelled_build_leaves_no_waiter_without_an_answer(cache):
    """The request building an entry is cancelled (timeout, drain): its waiters build again."""
    started, release = asyncio.Event(), asyncio.Event()
    builds = 0

    async def build():
        nonlocal builds
        builds += 1
        if builds == 1:
            started.set()
            await asyncio.Event().wait()  # the first build never finishes: it is cancelled
        await release.wait()
        return b'{"n":2}', []

    builder = asyncio.create_task(cache.fetch("k", build))
    await started.wait()
    waiters = [asyncio.create_task(cache.fetch("k", build)) for _ in range(3)]
    await asyncio.sleep(0)  # the waiters are now waiting on the first build
    assert not any(w.done() for w in waiters)
    builder.cancel()
    with pytest.raises(asyncio.CancelledError):
        await builder
    release.set()
    entries = await asyncio.wait_for(asyncio.gather(*waiters), 10)
    assert {entry.body for entry in entries} == {b'{"n":2}'}
    assert builds == 2  # one waiter built again, the others waited for it
    assert cache.get("k") is not None


async def test_a_waiter_cancelled_alone_does_not_cancel_the_build(cache):
    release = asyncio.Event()

    async def build():
        await release.wait()
        return b"1", []

    builder = asyncio.create_task(cache.fetch("k", build))
    await asyncio.sleep(0)
    waiter = asyncio.create_task(cache.fetch("k", build))
    await asyncio.sleep(0)
    waiter.cancel()
    release.set()
    assert (await builder).body == b"1"
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_kept_bodies_cost_their_size_not_the_encoders_buffer():
    import tracemalloc

    from jaan.web.envelope import dumps

    cache = ResponseCache(max_bytes=64 * 1024 * 1024)
    cache.set_live(True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(500):  # encoded, kept, and the encoder's own object let go, as in a handler
        cache.put(n, dumps({"success": True, "data": {"n": n, "text": "x" * 500}}), [])
    per_entry = (tracemalloc.get_traced_memory()[0] - before) / 500
    tracemalloc.stop()
    assert per_entry < 2500  # the ~540-byte body and the entry, not a 4 KB buffer each


def test_a_matching_request_gets_an_empty_304_with_the_same_tag(cache):
    from aiohttp.test_utils import make_mocked_request

    from jaan.web.response_cache import cached_response

    entry = cache.put("k", b'{"success":true}', [])
    first = cached_response(make_mocked_request("GET", "/"), entry)
    again = cached_response(make_mocked_request("GET", "/", headers={"If-None-Match": entry.etag}), entry)
    assert first.status == 200 and again.status == 304 and again.body is None
    assert again.headers["ETag"] == first.headers["ETag"] == entry.etag
    private = cached_response(make_mocked_request("GET", "/"), entry, private=True)
    assert private.headers["Cache-Control"] == "private, no-cache"


async def test_an_entry_with_an_end_expires_at_it_by_the_cache_clock():
    now = [1000.0]
    cache = ResponseCache(clock=lambda: now[0])
    cache.set_live(True)

    async def build():
        return b"today", ["table:invoices"], 1100.0

    entry = await cache.fetch("k", build)
    now[0] = 1099.9
    assert cache.get("k") is entry
    now[0] = 1100.0
    assert cache.get("k") is None and len(cache) == 0


def _count(metric, **labels):
    flush_tallies()  # look-ups are tallied in the process, added to the counter each heartbeat
    return metric.labels(**labels)._value.get()


async def test_look_ups_are_counted_per_kind_of_answer_and_drops_per_kind_of_tag(cache):
    hits, misses = (
        _count(RESPONSE_CACHE_LOOKUPS, entry="product", result="hit"),
        _count(RESPONSE_CACHE_LOOKUPS, entry="product", result="miss"),
    )
    by_product, whole = _count(RESPONSE_CACHE_DROPS, tag="product"), _count(RESPONSE_CACHE_DROPS, tag="all")
    cache.put(("product", "a"), b"1", ["product:1"])
    cache.put(("product", "b"), b"2", ["product:1", "product:2"])
    cache.put("categories", b"3", ["product:2"])
    assert cache.get(("product", "a")) is not None and cache.get(("product", "c")) is None
    cache.drop("product:1")
    cache.drop("product:9")  # nothing under it: nothing counted
    cache.clear()
    assert _count(RESPONSE_CACHE_LOOKUPS, entry="product", result="hit") == hits + 1
    assert _count(RESPONSE_CACHE_LOOKUPS, entry="product", result="miss") == misses + 1
    assert _count(RESPONSE_CACHE_DROPS, tag="product") == by_product + 2
    assert _count(RESPONSE_CACHE_DROPS, tag="all") == whole + 1  # "categories" was left


def test_least_recently_used_entries_go_past_the_byte_budget_and_are_counted():
    one = ResponseCache().put(("product", 0), b"x" * 1000, ["product:0"]).size  # not live: nothing kept
    cache = ResponseCache(max_bytes=10 * one)
    cache.set_live(True)
    evicted = _count(RESPONSE_CACHE_EVICTIONS, entry="product")
    for n in range(10):
        cache.put(("product", n), b"x" * 1000, [f"product:{n}"])
    assert len(cache) == 10 and cache.held_bytes == 10 * one
    assert cache.get(("product", 0)) is not None  # used again: now the most recent
    cache.put(("product", 10), b"x" * 1000, ["product:10"])
    assert cache.get(("product", 1)) is None and cache.get(("product", 0)) is not None
    assert len(cache) == 10 and cache.held_bytes <= cache.max_bytes
    assert _count(RESPONSE_CACHE_EVICTIONS, entry="product") == evicted + 1
    cache.drop("product:0")  # a drop is not an eviction, and gives its bytes back
    assert cache.held_bytes == 9 * one
    assert _count(RESPONSE_CACHE_EVICTIONS, entry="product") == evicted + 1


def test_an_answer_larger_than_an_eighth_of_the_budget_is_served_but_not_kept():
    cache = ResponseCache(max_bytes=80_000)
    cache.set_live(True)
    entry = cache.put("big", b"x" * 10_000, [])
    assert entry.body == b"x" * 10_000 and cache.get("big") is None and cache.held_bytes == 0


def test_the_budget_counts_what_plain_answers_cost_the_heap():
    import tracemalloc

    from jaan.web.envelope import dumps

    cache = ResponseCache(max_bytes=1 << 40)
    cache.set_live(True)
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for n in range(2000):
        body = dumps({"success": True, "data": {"id": n, "name": f"Product {n}", "text": "x" * (100 + n % 900)}})
        cache.put(("product", f"slug-{n}"), body, [f"product:{n}", "table:products"])
    used = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    assert 0.8 < cache.held_bytes / used < 1.3, (cache.held_bytes, used)
