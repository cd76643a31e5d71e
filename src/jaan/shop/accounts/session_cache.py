"""Live sessions kept in the worker, so a signed-in read costs no session query.

Entries end at the session's own expiry, and are dropped as soon as the database says a
session ended or its user changed (``jaan_sessions`` notifications from triggers).  Like the
response cache, it is used only while the worker is listening.

Reads trust the cache; writes confirm the session in PostgreSQL (:func:`confirmed_user_for_token`).
A revocation answers only once every worker has dropped the session
(:mod:`jaan.shop.accounts.revocation`), and the cache is trusted only until the listener's
deadline (:attr:`SessionCache.trusted_until`): past it, notifications may have been missed.

Invalidations are numbered, like the response cache's: a lookup that was in flight when a
notification arrived may have read the session before it ended, so it is served (its request
began first) but never kept.  :meth:`SessionCache.on_notification` is the one place a revoked
session is heard of in this worker: hook anything else that must end with it there
(:attr:`SessionCache.revoked_hooks`).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiohttp import web

from jaan.db.pool import Database
from jaan.metrics import cache_counters
from jaan.shop.accounts.sessions import CurrentUser, hash_token, user_for_token

_HITS, _MISSES, _BYPASSES = cache_counters("session")


class SessionCache:
    def __init__(self, max_entries: int = 100_000) -> None:
        self.max_entries = max_entries
        self.live = False
        # Monotonic deadline from the listener: past it, notifications may have been missed.
        self.trusted_until = 0.0
        self._sessions: dict[bytes, tuple[CurrentUser, dt.datetime]] = {}
        self._tokens_by_user: dict[Any, set[bytes]] = {}
        # Bumped by every invalidation: a lookup that started before the last one is not kept.
        self.generation = 0
        # Called with each notification's payload after the cache dropped what it names (so
        # live event streams, say, can end with the session).
        self.revoked_hooks: list[Callable[[str], None]] = []

    @property
    def trusted(self) -> bool:
        return self.live and time.monotonic() < self.trusted_until

    def get(self, token_hash: bytes) -> CurrentUser | None:
        found = self._sessions.get(token_hash) if self.trusted else None
        if found is None:
            (_MISSES if self.trusted else _BYPASSES)()
            return None
        user, expires_at = found
        if expires_at <= dt.datetime.now(dt.UTC):
            self._forget(token_hash)
            _MISSES()
            return None
        _HITS()
        return user

    def expires_at(self, token_hash: bytes) -> dt.datetime | None:
        """When a cached live session ends (None: not cached); an event stream closes then."""
        found = self._sessions.get(token_hash) if self.live else None
        return None if found is None else found[1]

    def put(self, token_hash: bytes, user: CurrentUser, expires_at: dt.datetime, looked_up_at: int) -> None:
        """Keep a session read from the database when the lookup began at generation `looked_up_at`."""
        if not self.trusted or looked_up_at != self.generation:
            return  # an invalidation arrived while it was read: it may already be stale
        if len(self._sessions) >= self.max_entries:
            self.clear()  # rare and cheap to rebuild: one query per session
        self._sessions[token_hash] = (user, expires_at)
        self._tokens_by_user.setdefault(user.id, set()).add(token_hash)

    def on_notification(self, payload: str) -> None:
        """``s:<token hash hex>``, ``u:<user id>`` or ``*`` (from the jaan_sessions triggers)."""
        self.generation += 1
        kind, _, value = payload.partition(":")
        if kind == "s":
            self._forget(bytes.fromhex(value))
        elif kind == "u":
            for token_hash in list(self._tokens_by_user.get(_user_key(value), ())):
                self._forget(token_hash)
        else:
            self.clear()
        for hook in self.revoked_hooks:
            hook(payload)

    def forget_user(self, user_id: Any) -> None:
        """Drop a user's sessions now (this worker); the others hear it from the database."""
        self.on_notification(f"u:{user_id}")

    def forget_token(self, token: str) -> None:
        self.on_notification(f"s:{hash_token(token).hex()}")

    def set_live(self, live: bool) -> None:
        self.clear()
        self.live = live

    def clear(self) -> None:
        self.generation += 1
        self._sessions.clear()
        self._tokens_by_user.clear()

    def _forget(self, token_hash: bytes) -> None:
        found = self._sessions.pop(token_hash, None)
        if found is not None:
            tokens = self._tokens_by_user.get(found[0].id)
            if tokens is not None:
                tokens.discard(token_hash)
                if not tokens:
                    del self._tokens_by_user[found[0].id]

    def __len__(self) -> int:
        return len(self._sessions)


def _user_key(text: str) -> Any:
    return uuid.UUID(text)


async def cached_user_for_token(database: Database, cache: SessionCache, token: str) -> CurrentUser | None:
    """The user of a live session: from the cache, else from the database (and then cached)."""
    token_hash = hash_token(token)
    user = cache.get(token_hash)
    if user is None:
        user = await confirmed_user_for_token(database, cache, token)
    return user


async def confirmed_user_for_token(database: Database, cache: SessionCache, token: str) -> CurrentUser | None:
    """The user of a live session as PostgreSQL says now (one indexed query), cached for later reads."""
    looked_up_at = cache.generation
    found = await user_for_token(database, token)
    if found is None:
        return None
    user, expires_at = found
    cache.put(hash_token(token), user, expires_at, looked_up_at)
    return user


SESSION_CACHE: web.AppKey[SessionCache] = web.AppKey("session_cache", SessionCache)
