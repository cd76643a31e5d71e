"""Sign-in throttling: failed attempts counted in PostgreSQL per account and address pair,
per account, and per client address.

Every sign-in *claims* an attempt before its password is checked: one upsert counts it for the
account from this address (``pair``), for the account (``email``) and for the address, in the
claiming transaction.  A claim that takes a count past its limit is refused (429) and rolled
back, so refused attempts are not counted and, however many attempts race across workers, at
most ``limit`` passwords per window are ever checked.  A claim that then succeeds takes its
attempt back (the pair's and account's counts are reset, the address's is decremented), so the
counts are of failures.

The lock-out an attacker can cause falls on the attacker: ``signin_max_failures`` (5) wrong
passwords lock the account *from that address* (an IPv6 /64) only; the owner, elsewhere, signs
in.  The account as a whole is refused only past ``signin_max_failures_per_account`` (50)
failures in the window, from many addresses, and every further attempt is slowed the closer any
count is to its limit.  Reaching a limit restarts its window: the lock-out lasts
``signin_window`` seconds from the failure that reached it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
from dataclasses import dataclass

from jaan.db.pool import Cursor
from jaan.metrics import SIGNIN_THROTTLED
from jaan.settings import Settings
from jaan.web.client_address import limit_key
from jaan.web.errors import TooManyRequests

THROTTLED_MESSAGE = "Too many failed sign-in attempts, try again later"
# The slow-down before the lock: the delay grows with the share of the limit used, up to this.
MAX_DELAY = 1.0

_CLAIM = """
INSERT INTO signin_failures AS f (scope, key, failures, window_started_at)
VALUES ('pair', %(pair)s, 1, now()), ('email', %(email)s, 1, now()), ('address', %(address)s, 1, now())
ON CONFLICT (scope, key) DO UPDATE SET
    failures = CASE WHEN f.window_started_at > now() - %(window)s THEN f.failures + 1 ELSE 1 END,
    window_started_at = CASE WHEN f.window_started_at > now() - %(window)s
                             THEN f.window_started_at ELSE now() END,
    locked_until = CASE WHEN f.window_started_at > now() - %(window)s THEN f.locked_until END
RETURNING scope, failures,
          extract(epoch FROM f.window_started_at + %(window)s - now())::float8 AS window_left
"""

_LOCK = """
UPDATE signin_failures SET window_started_at = now(), locked_until = now() + %(window)s
WHERE (scope, key) IN (('pair', %(pair)s), ('email', %(email)s), ('address', %(address)s))
  AND failures >= CASE scope
    WHEN 'pair' THEN %(pair_limit)s WHEN 'email' THEN %(email_limit)s ELSE %(address_limit)s END
"""


@dataclass(frozen=True)
class Attempt:
    """A claimed sign-in attempt: the counts including it."""

    email: str
    address: str  # the counted key: an IPv6 client's /64
    email_failures: int
    address_failures: int
    pair_failures: int = 0

    @property
    def pair(self) -> str:
        return pair_key(self.email, self.address)


def pair_key(email: str, address: str) -> str:
    return f"{address} {email}"


def _limits(settings: Settings) -> dict[str, int]:
    return {
        "pair": settings.signin_max_failures,
        "email": settings.signin_max_failures_per_account,
        "address": settings.signin_max_failures_per_address,
    }


async def claim_attempt(cur: Cursor, settings: Settings, email: str, address: str) -> Attempt:
    """Count an attempt for `email` from `address`, or raise 429 when any of its counts is locked out.

    Call inside a transaction, which the raised error rolls back (a refusal is not counted).
    """
    address = limit_key(address)
    window = dt.timedelta(seconds=settings.signin_window)
    params = {"pair": pair_key(email, address), "email": email, "address": address, "window": window}
    rows = await cur.fetch_all(_CLAIM, params)
    counts = {row["scope"]: row["failures"] for row in rows}
    limits = _limits(settings)
    over = [row for row in rows if row["failures"] > limits[row["scope"]]]
    if over:
        # A locked row's window restarted when it reached the limit: what is left of it is the lock.
        retry_after = max(1, math.ceil(max(row["window_left"] for row in over)))
        SIGNIN_THROTTLED.inc()
        raise TooManyRequests(THROTTLED_MESSAGE, headers={"Retry-After": str(retry_after)})
    if any(row["failures"] == limits[row["scope"]] for row in rows):
        await cur.execute(_LOCK, {**params, **{f"{scope}_limit": limit for scope, limit in limits.items()}})
    return Attempt(email, address, counts["email"], counts["address"], counts["pair"])


def delay_for(attempt: Attempt, settings: Settings) -> float:
    """Seconds to wait before checking the password: nothing at first, up to MAX_DELAY near the lock."""
    limits = _limits(settings)
    used = max(
        (attempt.pair_failures - 1) / max(limits["pair"], 1),
        (attempt.email_failures - 1) / max(limits["email"], 1),
        (attempt.address_failures - 1) / max(limits["address"], 1),
    )
    return min(MAX_DELAY, MAX_DELAY * used)


async def slow_down(attempt: Attempt, settings: Settings) -> None:
    delay = delay_for(attempt, settings)
    if delay > 0:
        await asyncio.sleep(delay)


async def attempt_succeeded(cur: Cursor, attempt: Attempt) -> None:
    """Take a successful attempt back: the account's counts start afresh, the address's loses one."""
    await cur.execute(
        "DELETE FROM signin_failures WHERE (scope, key) IN (('email', %s), ('pair', %s))", (attempt.email, attempt.pair)
    )
    await cur.execute(
        "UPDATE signin_failures SET failures = failures - 1 WHERE scope = 'address' AND key = %s AND failures > 0",
        (attempt.address,),
    )


async def remove_stale(cur: Cursor, settings: Settings) -> int:
    """Delete counts whose window has passed and that lock nobody out (the periodic job)."""
    await cur.execute(
        "DELETE FROM signin_failures WHERE window_started_at <= now() - %s"
        " AND (locked_until IS NULL OR locked_until <= now())",
        (dt.timedelta(seconds=settings.signin_window),),
    )
    return cur.rowcount
