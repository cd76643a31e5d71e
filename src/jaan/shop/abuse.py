"""Per-address limits on costly public writes: sign-up (scrypt, 32 MB a hash) and the contact form.

Counted in PostgreSQL (``request_counts``), so every worker and host sees one count: one upsert
per request, in a fixed window per address that starts with its first request.  Past the limit
the request is refused with 429 and ``Retry-After`` (the rest of the window) before any work
is done; a refused request is not counted, so the window still ends on time.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Literal

from jaan.db.pool import Cursor, Database
from jaan.web.errors import TooManyRequests

Action = Literal["signup", "contact"]

_COUNT = """
INSERT INTO request_counts AS r (action, key, requests, window_started_at) VALUES (%(action)s, %(key)s, 1, now())
ON CONFLICT (action, key) DO UPDATE SET
    requests = CASE WHEN r.window_started_at > now() - %(window)s THEN r.requests + 1 ELSE 1 END,
    window_started_at = CASE WHEN r.window_started_at > now() - %(window)s THEN r.window_started_at ELSE now() END
RETURNING requests, extract(epoch FROM r.window_started_at + %(window)s - now())::float8 AS window_left
"""


async def count_request(database: Database, action: Action, key: str, limit: int, window: float) -> None:
    """Count one `action` from the address `key`, or raise 429 past `limit` in `window` seconds."""
    async with database.transaction() as cur:
        row = await cur.fetch_one(_COUNT, {"action": action, "key": key, "window": dt.timedelta(seconds=window)})
        assert row is not None
        if row["requests"] > limit:
            raise TooManyRequests(  # rolls the count back: refusals are not counted
                "Too many requests from this address, try again later",
                headers={"Retry-After": str(max(1, math.ceil(row["window_left"])))},
            )


async def remove_stale_counts(cur: Cursor, window: float) -> int:
    """Delete counts whose window has passed (the periodic job)."""
    await cur.execute(
        "DELETE FROM request_counts WHERE window_started_at <= now() - %s", (dt.timedelta(seconds=window),)
    )
    return cur.rowcount
