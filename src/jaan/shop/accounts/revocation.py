"""A revocation answers only once every worker has dropped the session (issue 11, design b).

Admin reads take the session from the worker's cache (a query each would cost them most of
their speed), so a sign-out or a role change must reach every worker's cache before it
answers.  The revoking transaction ends with a notification of its own (``jaan_revoked``,
a fresh nonce) after the triggers' ``jaan_sessions`` ones; a worker's listener handles
notifications in order, so when it sees the nonce it has dropped the session, and says so
(``jaan_revoked_ack``: its listener id and the nonce).  The revoking request waits for the
acknowledgement of every listener that was alive within the trust window.  A listener that stays
silent is waited for at most that window: by then it has stopped trusting its caches by itself
(see :mod:`jaan.db.listen`).  Writes do not rely on this: they confirm the session in PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable

from aiohttp import web

from jaan.db.listen import notify
from jaan.db.pool import Cursor, Database
from jaan.settings import Settings

log = logging.getLogger(__name__)

REVOKED_CHANNEL = "jaan_revoked"
ACK_CHANNEL = "jaan_revoked_ack"
_LIVE_LISTENERS = "SELECT id::text FROM listeners WHERE heartbeat_at > now() - %s"


class Revocations:
    """The acknowledgements this worker collects for the revocations it made."""

    def __init__(self) -> None:
        self._acks: dict[str, tuple[set[str], asyncio.Event]] = {}

    async def announce(self, cur: Cursor) -> str:
        """Call last in the revoking transaction: the nonce to :meth:`wait_for` once it committed."""
        nonce = uuid.uuid4().hex
        self._acks[nonce] = (set(), asyncio.Event())  # before the commit: no acknowledgement is missed
        await notify(cur, REVOKED_CHANNEL, nonce)
        return nonce

    def abandon(self, nonce: str) -> None:
        """Forget a nonce (its transaction rolled back, or its wait is over)."""
        self._acks.pop(nonce, None)

    def on_ack(self, payload: str) -> None:
        listener_id, _, nonce = payload.partition(" ")
        found = self._acks.get(nonce)
        if found is not None:
            found[0].add(listener_id)
            found[1].set()

    async def wait_for(self, database: Database, nonce: str, trust_window: float) -> set[str]:
        """Wait until every listener alive within `trust_window` acknowledged `nonce`, at most that
        long (plus a margin for clocks); returns the listeners that never answered."""
        deadline = time.monotonic() + trust_window * 1.1 + 0.1
        acks, heard = self._acks[nonce]
        try:
            rows = await database.fetch_all(_LIVE_LISTENERS, (dt.timedelta(seconds=trust_window),))
            expected = {row["id"] for row in rows}
            while not expected <= acks and (remaining := deadline - time.monotonic()) > 0:
                heard.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(heard.wait(), remaining)
            silent = expected - acks
            if silent:
                log.warning("revocation not acknowledged by listeners %s: their caches are off by now", sorted(silent))
            return silent
        finally:
            self.abandon(nonce)


def acknowledger(database: Database, listener_id: Callable[[], uuid.UUID]) -> Callable[[str], None]:
    """The ``jaan_revoked`` callback of every worker: acknowledge once the session is dropped.

    It runs after the same transaction's ``jaan_sessions`` notifications were handled (in order).
    """

    async def acknowledge(nonce: str) -> None:
        try:
            await database.execute("SELECT pg_notify(%s, %s)", (ACK_CHANNEL, f"{listener_id()} {nonce}"))
        except Exception:  # the revoker waits out the trust window instead
            log.warning("could not acknowledge revocation %s", nonce, exc_info=True)

    pending: set[asyncio.Task[None]] = set()  # referenced until done (the loop keeps only weak ones)

    def on_revoked(nonce: str) -> None:
        task = asyncio.get_running_loop().create_task(acknowledge(nonce))
        pending.add(task)
        task.add_done_callback(pending.discard)

    return on_revoked


def trust_window(settings: Settings) -> float:
    """How long a listener's probe vouches for its caches: as long as a revoker may have to wait."""
    return settings.listen_probe_interval + settings.listen_probe_timeout


REVOCATIONS: web.AppKey[Revocations] = web.AppKey("revocations", Revocations)
