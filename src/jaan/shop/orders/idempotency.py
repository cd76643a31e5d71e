"""``Idempotency-Key`` for checkout: a retried request replays the first answer.

The key is claimed inside the order's own transaction, by the checkout's server-side function
(``place_order``, migrations/0019): a duplicate arriving while the first is still running blocks
on the key's row until that transaction ends (then replays its answer), or gets 409 past
``lock_timeout``; the same key with another request body is 422.  A first attempt that failed
rolled its claim back with it, so the retry runs afresh.  Keys are kept 24 hours (the periodic
``expire_idempotency_keys`` job).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from jaan.db.pool import Cursor
from jaan.web.errors import InvalidInput

HEADER = "Idempotency-Key"
KEEP = "24 hours"


def fingerprint(body: Any) -> bytes:
    """The same request body, however its keys are ordered or spaced, gives the same fingerprint."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).digest()


def valid_key(key: str | None) -> str | None:
    if key is None:
        return None
    key = key.strip()
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InvalidInput("Invalid Idempotency-Key header (1 to 255 printable characters)")
    return key


async def expire_idempotency_keys(cur: Cursor) -> int:
    """Forget keys older than a day (run once across workers by the periodic runner)."""
    await cur.execute(f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{KEEP}'")
    return cur.rowcount
