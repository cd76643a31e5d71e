"""The session cache: a lookup in flight when a revocation is heard is served but never kept."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from typing import Any

import pytest

from jaan.shop.accounts.session_cache import SessionCache, cached_user_for_token
from jaan.shop.accounts.sessions import hash_token

TOKEN = "a" * 64
USER_ID = uuid.uuid4()


class HeldDatabase:
    """A database whose session lookup waits until the test lets it answer."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()
        self.answer = asyncio.Event()
        self.queries = 0

    async def fetch_one(self, sql: str, params: Any = None) -> dict[str, Any]:
        self.queries += 1
        self.asked.set()
        await self.answer.wait()
        now = dt.datetime.now(dt.UTC)
        return {
            "session_id": uuid.uuid4(),
            "expires_at": now + dt.timedelta(days=1),
            "id": USER_ID,
            "email": "admin@example.com",
            "full_name": "Admin",
            "email_confirmed_at": now,
            "created_at": now,
            "updated_at": now,
            "role": "admin",
        }


@pytest.fixture
def cache() -> SessionCache:
    cache = SessionCache()
    cache.set_live(True)
    cache.trusted_until = time.monotonic() + 3600  # as the listener's probes keep it
    return cache


@pytest.mark.parametrize(
    "payload",
    [f"s:{hash_token(TOKEN).hex()}", f"u:{USER_ID}", "*"],
    ids=["sign-out", "role-change", "everything"],
)
async def test_a_lookup_that_raced_a_revocation_is_not_kept(cache, payload):
    database = HeldDatabase()
    lookup = asyncio.create_task(cached_user_for_token(database, cache, TOKEN))  # type: ignore[arg-type]
    await database.asked.wait()  # the lookup read the session before it ended...
    cache.on_notification(payload)  # ...and the revocation is heard before its answer
    database.answer.set()
    assert (await lookup) is not None  # served: the request began before the revocation
    assert cache.get(hash_token(TOKEN)) is None  # but not kept for the next one
    database.asked.clear()
    await cached_user_for_token(database, cache, TOKEN)  # type: ignore[arg-type]
    assert database.queries == 2


async def test_a_lookup_with_no_revocation_meanwhile_is_kept(cache):
    database = HeldDatabase()
    database.answer.set()
    await cached_user_for_token(database, cache, TOKEN)  # type: ignore[arg-type]
    await cached_user_for_token(database, cache, TOKEN)  # type: ignore[arg-type]
    assert database.queries == 1 and len(cache) == 1


async def test_revocations_reach_the_hooks_after_the_cache_dropped_the_session(cache):
    database = HeldDatabase()
    database.answer.set()
    await cached_user_for_token(database, cache, TOKEN)  # type: ignore[arg-type]
    heard: list[tuple[str, bool]] = []
    cache.revoked_hooks.append(lambda payload: heard.append((payload, cache.get(hash_token(TOKEN)) is None)))
    cache.forget_user(USER_ID)
    assert heard == [(f"u:{USER_ID}", True)]


async def test_past_the_listeners_deadline_the_cache_is_not_trusted(cache):
    """A worker whose listener stopped vouching (no probe came back) bypasses its cache by itself,
    even before anyone noticed the connection is gone: a revoker waits no longer than that."""
    database = HeldDatabase()
    database.answer.set()
    await cached_user_for_token(database, cache, TOKEN)  # type: ignore[arg-type]
    assert cache.get(hash_token(TOKEN)) is not None
    cache.trusted_until = time.monotonic() - 0.001
    assert cache.get(hash_token(TOKEN)) is None
    await cached_user_for_token(database, cache, TOKEN)  # type: ignore[arg-type]
    assert database.queries == 2
