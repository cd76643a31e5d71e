"""``Idempotency-Key`` for checkout: a retried request replays the first answer.

The key is claimed inside the order's own transaction: a duplicate arriving while the first is
still running blocks on the key's row until that transaction ends (then replays its answer), or
gets 409 past ``lock_timeout``.  A first attempt that failed rolled its claim back with it, so the
retry runs afresh.  Keys are kept 24 hours (the periodic ``expire_idempotency_keys`` job).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import psycopg2.errors

from jaan.db.pool import Cursor
from jaan.web.envelope import dumps
from jaan.web.errors import Conflict, IdempotencyMismatch, InvalidInput

HEADER = "Idempotency-Key"
KEEP = "24 hours"


@dataclass(frozen=True)
class Replay:
    status: int
    body: Any


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


# A claim made inside the first statement of the order's transaction (a CTE), so it costs no
# round trip of its own; `claimed` is 1 when this request now owns the key.
CLAIM_CTE = (
    "claim AS (INSERT INTO idempotency_keys (user_id, key, request_hash)"
    " VALUES (%(claim_user)s, %(claim_key)s, %(claim_hash)s) ON CONFLICT (user_id, key) DO NOTHING RETURNING key)"
)
CLAIMED = "(SELECT count(*) FROM claim)"


def claim_params(user_id: Any, key: str, request: bytes) -> dict[str, Any]:
    return {"claim_user": user_id, "claim_key": key, "claim_hash": request}


@contextlib.contextmanager
def claiming() -> Iterator[None]:
    """Around the statement that claims: a duplicate still running past lock_timeout is 409."""
    try:
        yield
    except psycopg2.errors.LockNotAvailable:
        raise Conflict("A request with this Idempotency-Key is still being processed") from None


async def earlier_answer(cur: Cursor, user_id: Any, key: str, request: bytes) -> Replay:
    """The answer of the request that claimed `key` first (422 when it sent another body)."""
    earlier = await cur.fetch_one(
        "SELECT request_hash, response_status, response_body FROM idempotency_keys WHERE user_id = %s AND key = %s",
        (user_id, key),
    )
    assert earlier is not None
    if bytes(earlier["request_hash"]) != request:
        raise IdempotencyMismatch("This Idempotency-Key was used with a different request body")
    return Replay(earlier["response_status"], earlier["response_body"])


def remember(cur: Cursor, user_id: Any, key: str, status: int, body: Any) -> None:
    """Store the answer for replays (queued: it travels with the transaction's next statement)."""
    cur.later(
        "UPDATE idempotency_keys SET response_status = %s, response_body = %s WHERE user_id = %s AND key = %s",
        (status, dumps(body).decode(), user_id, key),
    )


async def expire_idempotency_keys(cur: Cursor) -> int:
    """Forget keys older than a day (run once across workers by the periodic runner)."""
    await cur.execute(f"DELETE FROM idempotency_keys WHERE created_at < now() - interval '{KEEP}'")
    return cur.rowcount
