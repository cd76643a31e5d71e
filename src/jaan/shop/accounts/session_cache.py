"""Live sessions kept in the worker, so a signed-in request costs no session query.

Entries end at the session's own expiry, and are dropped as soon as the database says a
session ended or its user changed (``jaan_sessions`` notifications from triggers).  Like the
response cache, it is used only while the worker is listening.
"""

from __future__ import annotations

import datetime as dt
import uuid
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
        self._sessions: dict[bytes, tuple[CurrentUser, dt.datetime]] = {}
        self._tokens_by_user: dict[Any, set[bytes]] = {}

    def get(self, token_hash: bytes) -> CurrentUser | None:
        found = self._sessions.get(token_hash) if self.live else None
        if found is None:
            (_MISSES if self.live else _BYPASSES).inc()
            return None
        user, expires_at = found
        if expires_at <= dt.datetime.now(dt.UTC):
            self._forget(token_hash)
            _MISSES.inc()
            return None
        _HITS.inc()
        return user

    def put(self, token_hash: bytes, user: CurrentUser, expires_at: dt.datetime) -> None:
        if not self.live:
            return
        if len(self._sessions) >= self.max_entries:
            self.clear()  # rare and cheap to rebuild: one query per session
        self._sessions[token_hash] = (user, expires_at)
        self._tokens_by_user.setdefault(user.id, set()).add(token_hash)

    def on_notification(self, payload: str) -> None:
        """``s:<token hash hex>``, ``u:<user id>`` or ``*`` (from the jaan_sessions triggers)."""
        kind, _, value = payload.partition(":")
        if kind == "s":
            self._forget(bytes.fromhex(value))
        elif kind == "u":
            for token_hash in list(self._tokens_by_user.get(_user_key(value), ())):
                self._forget(token_hash)
        else:
            self.clear()

    def forget_user(self, user_id: Any) -> None:
        """Drop a user's sessions now (this worker); the others hear it from the database."""
        self.on_notification(f"u:{user_id}")

    def forget_token(self, token: str) -> None:
        self._forget(hash_token(token))

    def set_live(self, live: bool) -> None:
        self.clear()
        self.live = live

    def clear(self) -> None:
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
        found = await user_for_token(database, token)
        if found is None:
            return None
        user, expires_at = found
        cache.put(token_hash, user, expires_at)
    return user


SESSION_CACHE: web.AppKey[SessionCache] = web.AppKey("session_cache", SessionCache)
