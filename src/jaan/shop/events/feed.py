"""One worker's feed of live events: read each new event once, hand it to every subscriber.

The database writes events in the transaction of each change and announces them on
``jaan_events`` (migrations/0015, 0016), the event itself in the notification when it fits.  The
worker's one LISTEN connection (:mod:`jaan.shop.freshness`) hands it to
:meth:`EventFeed.on_notification`, which appends it to each interested subscriber's buffer; when
an event did not fit, or ids skipped one, a single task reads every event past the last one
handed out, from the pool: no query per subscriber, and no database connection per subscriber.

Ids are given in commit order (the migration explains how), so the committed events a reader
can see are always a prefix of the id order: reading ``id > last`` never skips one that commits
later.  That also makes the seam of a resumed stream exact: a subscriber is registered first,
then replays from the table up to the feed's ``last`` at that instant; everything after it
arrives through its buffer.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any

from aiohttp import web

from jaan import metrics
from jaan.db.pool import Cursor, Database
from jaan.routes import Access
from jaan.shop.accounts.roles import Role, may_access

log = logging.getLogger(__name__)

EVENTS_CHANNEL = "jaan_events"
# What a customer's stream carries: their own orders' and invoices' changes.
CUSTOMER_TYPES = frozenset({"order.status_changed", "invoice.issued", "invoice.paid"})
# Events read per query: a long outage is caught up in pages.
BATCH = 500

# Seconds a stream asked to close may take to do so before its connection is cut.
CLOSE_GRACE = 1.0

# Close codes (WebSocket; an SSE stream sends them in its closing `event: close`).
SERVICE_RESTART = 1012  # the worker is draining (reload, stop): reconnect, another worker answers
SESSION_ENDED = 4401  # signed out, expired, or the session is gone
NOT_ALLOWED = 4403  # the account may no longer see this stream (an admin demoted)
TOO_SLOW = 4008  # the subscriber did not keep up: more than events_buffer events waited for it

# The row as clients receive it, encoded once by the database: {"id", "type", "at", "data"}.
EVENT_COLUMNS = (
    "id, type, user_id, '{\"id\":' || id || ',\"type\":' || to_json(type)::text"
    ' || \',"at":"\' || to_char(at AT TIME ZONE \'UTC\', \'YYYY-MM-DD"T"HH24:MI:SS.US"Z"\')'
    " || '\",\"data\":' || data::text || '}' AS body"
)


class Event:
    """One committed event, as JSON text, with its Server-Sent Events frame made on first use."""

    __slots__ = ("_frame", "body", "id", "type", "user_id")

    def __init__(self, id: int, type: str, user_id: str | None, body: str) -> None:
        self.id, self.type, self.user_id, self.body = id, type, user_id, body
        self._frame: bytes | None = None

    @property
    def text(self) -> bytes:
        return self.body.encode()

    @property
    def sse_frame(self) -> bytes:
        if self._frame is None:
            self._frame = f"id: {self.id}\nevent: {self.type}\ndata: {self.body}\n\n".encode()
        return self._frame

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Event:
        user_id = row["user_id"]
        return cls(row["id"], row["type"], None if user_id is None else str(user_id), row["body"])


class Subscriber:
    """One open stream: who it is for, and the events waiting to be sent to it."""

    def __init__(self, user_id: Any, role: Role, token_hash: bytes, expires_at: dt.datetime, limit: int) -> None:
        self.user_id = str(user_id)
        self.admin = may_access(role, Access.ADMIN)
        self.token_hash = token_hash
        self.expires_at = expires_at
        self.limit = limit
        self.pending: deque[Event] = deque()
        self.ready = asyncio.Event()  # set when there is something to send, or to close
        self.close_code: int | None = None
        self.close_reason = ""
        self.finished = False  # its stream has ended
        self.cut: Callable[[], None] = lambda: None  # drop the connection (the stream sets it)

    def push(self, event: Event) -> None:
        if self.close_code is not None:
            return
        if len(self.pending) >= self.limit:
            self.close(TOO_SLOW, f"more than {self.limit} events waited for this subscriber")
            return
        self.pending.append(event)
        self.ready.set()

    def close(self, code: int, reason: str) -> None:
        """Ask the stream to end with `code`; its sender closes it (see streams.py)."""
        if self.close_code is None:
            self.close_code, self.close_reason = code, reason
            self.pending.clear()
            metrics.EVENT_STREAMS_CLOSED.labels(str(code)).inc()
            # A client that stopped reading cannot take the close: cut it after a grace period.
            asyncio.get_running_loop().call_later(CLOSE_GRACE, self._cut_if_open)
        self.ready.set()

    def _cut_if_open(self) -> None:
        if not self.finished:
            self.cut()


class EventFeed:
    """The worker's subscribers and the reader that feeds them."""

    def __init__(self) -> None:
        self.subscribers: set[Subscriber] = set()
        # Indexes, so an event costs the admins plus the one customer it concerns, not every stream.
        self._admins: set[Subscriber] = set()
        self._by_user: dict[str, set[Subscriber]] = {}
        self.last_id = 0  # every event up to this id has been handed out (or predates the worker)
        self.delivered = 0  # events handed to subscribers, for the metrics
        self.closing = False
        self._database: Database | None = None
        self._stopped = False
        self._reading = False
        self._started = asyncio.Event()
        self._wanted = asyncio.Event()
        self._emptied = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._checks: set[asyncio.Task[None]] = set()

    # -- life cycle -----------------------------------------------------------------------------

    async def start(self, database: Database) -> None:
        self._database = database
        with contextlib.suppress(Exception):  # normally ready here; else the reader keeps trying
            await self._read_the_end()
        self._task = asyncio.create_task(self._read_forever(), name="event feed")

    @property
    def ready(self) -> bool:
        """Whether the feed knows where the stream stands (the events table is there and was read)."""
        return self._started.is_set()

    async def _find_the_end(self) -> None:
        """Start after the newest event; until the events table exists (migrations pending while
        the worker already answers /api/health/ready), try again every second."""
        while not self.ready:
            try:
                await self._read_the_end()
            except Exception as exc:
                log.debug("event feed not started yet: %s", exc)
                await asyncio.sleep(1.0)

    async def _read_the_end(self) -> None:
        assert self._database is not None
        self.last_id = int(await self._database.fetch_value("SELECT coalesce(max(id), 0) FROM events"))
        self._started.set()

    async def stop(self) -> None:
        self._stopped = True
        tasks = [task for task in (self._task, *self._checks) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            # A cancellation swallowed by a database call below must not hang the shutdown:
            # the reader also ends on the flag, once woken.
            self._wanted.set()
            await asyncio.wait(tasks, timeout=5.0)
        self._task = None

    async def close_all(self, code: int = SERVICE_RESTART, reason: str = "service restart", wait: float = 2.0) -> None:
        """Close every stream (the worker drains) and refuse new ones; wait up to `wait` s for them to end."""
        self.closing = True
        for subscriber in list(self.subscribers):
            subscriber.close(code, reason)
        if self.subscribers:
            self._emptied.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._emptied.wait()

    # -- subscribers ----------------------------------------------------------------------------

    def subscribe(self, subscriber: Subscriber) -> int:
        """Register `subscriber`; returns the id up to which it must replay from the table itself."""
        self.subscribers.add(subscriber)
        if subscriber.admin:
            self._admins.add(subscriber)
        self._by_user.setdefault(subscriber.user_id, set()).add(subscriber)
        return self.last_id

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self.subscribers.discard(subscriber)
        self._admins.discard(subscriber)
        same_user = self._by_user.get(subscriber.user_id)
        if same_user is not None:
            same_user.discard(subscriber)
            if not same_user:
                del self._by_user[subscriber.user_id]
        if not self.subscribers:
            self._emptied.set()

    def counts(self) -> dict[str, int]:
        return {"admin": len(self._admins), "customer": len(self.subscribers) - len(self._admins)}

    # -- reading --------------------------------------------------------------------------------

    def wake(self, _payload: str = "") -> None:
        """The LISTEN connection came back (or a notification without its event): read what is new."""
        self._wanted.set()

    def on_notification(self, payload: str) -> None:
        """``<id> <type> <customer id or -> <event JSON>`` (migrations/0016), or ``<id>`` alone.

        The next event in order, while the reader is idle, goes straight to the subscribers: no
        query, no wait for a pooled connection. Anything else (an event too large to travel in a
        notification, a gap in the ids, the reader busy catching up) is read from the table, in
        order, by the reader.
        """
        head, body = payload, ""
        parts = payload.split(" ", 3)
        if len(parts) == 4 and parts[0].isdigit():
            head, body = parts[0], parts[3]
        if not head.isdigit() or int(head) <= self.last_id:
            return  # read already (or not an event id)
        if body and int(head) == self.last_id + 1 and self.ready and not self._reading and not self._wanted.is_set():
            self.dispatch(Event(int(head), parts[1], None if parts[2] == "-" else parts[2], body))
        else:
            self._wanted.set()

    async def _read_forever(self) -> None:
        await self._find_the_end()
        while not self._stopped:
            await self._wanted.wait()
            self._wanted.clear()
            if self._stopped:
                return
            self._reading = True
            try:
                await self._read_new()
            except Exception:
                # The database is away or busy: try again shortly (nothing is lost, we read by id).
                log.exception("reading new events failed; retrying")
                await asyncio.sleep(1.0)
                self._wanted.set()
            finally:
                self._reading = False

    async def _read_new(self) -> None:
        assert self._database is not None
        while True:
            rows = await self._database.fetch_all(
                f"SELECT {EVENT_COLUMNS} FROM events WHERE id > %s ORDER BY id LIMIT %s", (self.last_id, BATCH)
            )
            for row in rows:
                if row["id"] > self.last_id:  # not already handed out from its notification
                    self.dispatch(Event.from_row(row))
            if len(rows) < BATCH:
                return

    def dispatch(self, event: Event) -> None:
        self.last_id = event.id
        handed = 0
        for subscriber in self._admins:
            subscriber.push(event)
            handed += 1
        if event.user_id is not None and event.type in CUSTOMER_TYPES:
            for subscriber in self._by_user.get(event.user_id, ()):
                if not subscriber.admin:  # an admin's own order: once, as an admin
                    subscriber.push(event)
                    handed += 1
        self.delivered += handed
        if handed:
            metrics.EVENTS_DELIVERED.inc(handed)

    # -- sessions -------------------------------------------------------------------------------

    def on_sessions(self, payload: str) -> None:
        """``jaan_sessions``: ``s:<token hash>`` ended, ``u:<user id>`` changed, ``*`` everything."""
        kind, _, value = payload.partition(":")
        if kind == "s":
            token_hash = bytes.fromhex(value)
            for subscriber in list(self.subscribers):  # rare, and a comparison each
                if subscriber.token_hash == token_hash:
                    subscriber.close(SESSION_ENDED, "signed out")
        elif kind == "u":
            self.recheck(self._by_user.get(value, ()))
        else:
            self.recheck(self.subscribers)

    def recheck(self, subscribers: Iterable[Subscriber]) -> None:
        """Close those whose session ended or whose role no longer reaches their stream (one query)."""
        chosen = list(subscribers)
        if chosen and self._database is not None:
            task = asyncio.create_task(self._recheck(chosen), name="event subscribers recheck")
            self._checks.add(task)
            task.add_done_callback(self._checks.discard)

    async def _recheck(self, subscribers: list[Subscriber]) -> None:
        assert self._database is not None
        try:
            rows = await self._database.fetch_all(
                "SELECT s.token_hash, u.role FROM sessions s JOIN users u ON u.id = s.user_id"
                " WHERE s.token_hash = ANY(%s) AND s.expires_at > now()",
                (list({s.token_hash for s in subscribers}),),
            )
        except Exception:
            log.exception("could not recheck event subscribers' sessions")
            return
        roles = {bytes(row["token_hash"]): Role(row["role"]) for row in rows}
        for subscriber in subscribers:
            role = roles.get(subscriber.token_hash)
            if role is None:
                subscriber.close(SESSION_ENDED, "session ended")
            elif subscriber.admin and not may_access(role, Access.ADMIN):
                subscriber.close(NOT_ALLOWED, "no longer an admin")


async def replay(database: Database, subscriber: Subscriber, after: int, upto: int) -> AsyncIterator[Event]:
    """The stored events a resuming subscriber missed: ``after < id <= upto``, in order, in pages
    (no connection is held while they are sent)."""
    customer = None if subscriber.admin else subscriber.user_id
    while after < upto:
        rows = await database.fetch_all(
            f"SELECT {EVENT_COLUMNS} FROM events WHERE id > %(after)s AND id <= %(upto)s"
            " AND (%(customer)s::uuid IS NULL OR (user_id = %(customer)s AND type = ANY(%(types)s)))"
            " ORDER BY id LIMIT %(batch)s",
            {"after": after, "upto": upto, "customer": customer, "types": sorted(CUSTOMER_TYPES), "batch": BATCH},
        )
        for row in rows:
            yield Event.from_row(row)
        if len(rows) < BATCH:
            return
        after = rows[-1]["id"]


async def prune_events(cur: Cursor, retention_days: int) -> int:
    """The periodic job: drop events older than the retention period."""
    await cur.execute("DELETE FROM events WHERE at < now() - make_interval(days => %s)", (retention_days,))
    return cur.rowcount


EVENT_FEED: web.AppKey[EventFeed] = web.AppKey("event_feed", EventFeed)


async def event_feed_ctx(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx (after the pool's, before the listener's): read and hand out events while the app runs."""
    from jaan.state import DATABASE

    feed = app[EVENT_FEED]
    await feed.start(app[DATABASE])
    yield
    await feed.stop()


async def close_event_streams(app: web.Application) -> None:
    """on_shutdown: close the streams still open (a worker's drain has normally done it already)."""
    await app[EVENT_FEED].close_all()
