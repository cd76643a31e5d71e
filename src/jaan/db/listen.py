"""LISTEN/NOTIFY on a dedicated connection.

A LISTEN belongs to a session, so it must never ride on a pooled connection (the next
borrower would inherit it and the listener would miss notifications while the connection
is lent out).  :class:`Listener` owns one connection of its own, reconnects when it drops,
and hands each notification's payload to the callback registered for its channel.
It counts as one connection in the service's connection budget.

A connection can die without a word (a failover, a NAT that forgot the flow, a remote
``DATABASE_URL`` whose host vanished): nothing arrives, nothing fails, and TCP alone would
notice after about two hours.  So the listener proves itself alive: every ``probe_interval``
seconds it sends a notification to a channel of its own on its own connection and expects it
back; TCP keepalives also run on the connection.  A connection that stays silent through a probe
is ended (``on_state(False)``: caches are bypassed) and the listener reconnects; the caches are
rebuilt once it listens again.

Being alive and being caught up are two different proofs (issue 14: under an order storm a
loaded worker's probe came back late behind thousands of notifications, and a healthy connection
was thrown away with every cache of the worker):

- *Alive* (whether to reconnect): anything that comes from the connection, a notification or the
  probe statement's answer, proves the connection and its backend are there. A probe is given up
  only when nothing at all has come for ``probe_timeout`` seconds while it was outstanding, so a
  silent connection is still found dead within ``probe_interval + probe_timeout`` as before, and a
  busy one never is, however far behind its echo is.
- *Caught up* (``on_alive``, how long the caches may be trusted): only the probe's own echo.
  PostgreSQL delivers a connection's notifications in commit order, so the echo proves that every
  notification committed before the probe was sent has been handled; until ``trust_window``
  seconds after it was sent, nothing can have been missed. Any other notification proves nothing
  of the kind (one committed earlier may still be queued behind it). A worker that stops hearing
  its echoes stops trusting its caches at that deadline, by itself, even if its event loop was stuck
  meanwhile, and trusts them again when the next echo comes back: the connection never dropped, so
  nothing was lost and nothing need be thrown away. Each listener also registers itself in the
  ``listeners`` table and refreshes its heartbeat with every probe, so a writer can tell which
  listeners are alive (shop/accounts/revocation.py waits at most ``trust_window`` for them). That
  wait stays sound with a late echo: a listener still trusting its caches when the revoker gives up
  on it (a window after the revocation committed) has had the echo of a probe sent after that
  commit, so it handled the revocation before (its acknowledgement may still be on its way); one
  without such an echo stopped trusting them at its deadline (its last echoed probe's sending plus
  ``trust_window``), before the revoker gave up. Probes go one at a time, so a late echo also holds
  back the heartbeat.

Notifications are handed to the callbacks as psycopg2 reads them, in the connection's read
callback: aiopg's own queue costs a task and three or four turns of the event loop per
notification, so a worker whose loop turns slowly under load fell behind a storm of them
(measured: 6 notifications/s with 50-ms turns, against 6,700/s on an idle loop).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping

import aiopg
import psycopg2
import psycopg2.extensions

from jaan.db.pool import Cursor

log = logging.getLogger(__name__)

Callback = Callable[[str], None]

APPLICATION_NAME = "jaan listener"  # how pg_stat_activity names these connections
# TCP keepalives on the listener's connection (ignored on a unix socket, which cannot go silent).
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2, "keepalives_count": 3}


# A probe refreshes the heartbeat and sends the echo in one statement.
_PROBE = (
    "WITH beat AS (INSERT INTO listeners (id) VALUES (%s) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now()"
    " RETURNING 1) SELECT pg_notify(%s, %s) FROM beat"
)
_REGISTER = (
    "INSERT INTO listeners (id) VALUES (%s) ON CONFLICT (id) DO UPDATE SET heartbeat_at = now();"
    " DELETE FROM listeners WHERE heartbeat_at < now() - interval '1 day'"  # workers long gone
)


# aiopg needs a number; the probe bounds its statement by the connection's silence instead.
_NO_TIMEOUT = 24 * 3600.0


class ListenerSilent(Exception):
    """Nothing came from the listener's connection while its probe was outstanding: presumed dead."""


class _Deliveries:
    """Takes psycopg2's place for a connection's ``notifies`` list (psycopg2 accepts any object with
    ``append``): each notification goes to `deliver` as it is read. Always empty, so aiopg, which
    moves that list into its own queue, finds nothing to move."""

    __slots__ = ("_deliver",)

    def __init__(self, deliver: Callable[[psycopg2.extensions.Notify], None]) -> None:
        self._deliver = deliver

    def append(self, message: psycopg2.extensions.Notify) -> None:
        self._deliver(message)

    def __len__(self) -> int:
        return 0


class Listener:
    """LISTEN on `callbacks`' channels; `on_state(True)` once listening, `on_state(False)` when not.

    Whoever caches data invalidated by these channels must trust its cache only between the two:
    notifications sent while the connection was down are lost.
    """

    def __init__(
        self,
        dsn: str,
        callbacks: Mapping[str, Callback],
        *,
        retry_delay: float = 1.0,
        on_state: Callable[[bool], None] | None = None,
        probe_interval: float = 2.0,
        probe_timeout: float = 3.0,
        on_alive: Callable[[float], None] | None = None,
    ) -> None:
        self._dsn = dsn
        self._callbacks = dict(callbacks)
        self._retry_delay = retry_delay
        self._probe_interval = probe_interval
        self._probe_timeout = probe_timeout
        self._probe_channel = f"jaan_probe_{uuid.uuid4().hex}"
        self._echo: tuple[str, asyncio.Future[None]] | None = None  # the outstanding probe's payload
        self._heard_at = 0.0  # monotonic time anything last came from the connection
        self._probes_sent = 0
        self._on_state = on_state or (lambda listening: None)
        self._on_alive = on_alive or (lambda deadline: None)
        self.id = uuid.uuid4()
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

    @property
    def trust_window(self) -> float:
        """Seconds after a probe is sent until which it vouches for the caches (and a writer waits)."""
        return self._probe_interval + self._probe_timeout

    async def start(self, ready_within: float = 5.0) -> None:
        """Start listening; returns once the first LISTEN is in place, or after `ready_within`
        seconds (then it keeps trying in the background)."""
        self._task = asyncio.create_task(self._run(), name="listener")
        waiter = asyncio.create_task(self.listening.wait())
        done, _ = await asyncio.wait({self._task, waiter}, timeout=ready_within, return_when=asyncio.FIRST_COMPLETED)
        if waiter not in done:
            waiter.cancel()
        if self._task in done:
            self._task.result()  # re-raise why it stopped

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
            await self._unregister()
        self._set_listening(False)

    async def _unregister(self) -> None:
        """Leave the listeners table, so no revoker waits for this one's acknowledgement."""
        try:
            async with (
                aiopg.connect(self._dsn, enable_hstore=False, timeout=self._probe_timeout) as conn,
                conn.cursor() as cur,
            ):
                await cur.execute("DELETE FROM listeners WHERE id = %s", (self.id,))
        except (TimeoutError, psycopg2.Error, OSError) as exc:  # it ages out of the trust window anyway
            log.info("listener could not unregister (%s)", exc)

    def _set_listening(self, listening: bool) -> None:
        if listening == self.listening.is_set():
            return
        if listening:
            self.listening.set()
        else:
            self.listening.clear()
        self._on_state(listening)

    async def _run(self) -> None:
        while True:
            try:
                await self._listen_once()
            except (TimeoutError, psycopg2.Error, OSError, ListenerSilent) as exc:
                self._set_listening(False)
                log.warning("listener connection lost (%s); reconnecting in %ss", exc, self._retry_delay)
                await asyncio.sleep(self._retry_delay)
            except Exception:
                # Anything else (aiopg on uvloop can raise RuntimeError on a reused descriptor after a
                # refused connect) must not end the listener for good: the worker would bypass its
                # caches until restarted.
                self._set_listening(False)
                log.exception("listener failed; reconnecting in %ss", self._retry_delay)
                await asyncio.sleep(self._retry_delay)

    async def _listen_once(self) -> None:
        # `timeout` bounds connecting and each statement here (never the wait for notifications).
        dsn = psycopg2.extensions.make_dsn(self._dsn, application_name=APPLICATION_NAME, **KEEPALIVES)
        async with (
            aiopg.connect(dsn, enable_hstore=False, timeout=self._probe_timeout) as conn,
            conn.cursor() as cur,
        ):
            conn.raw.notifies = _Deliveries(self._deliver)
            for channel in (self._probe_channel, *self._callbacks):
                await cur.execute(f'LISTEN "{channel}"')
            # Registered once listening: whatever is committed from now on reaches this listener.
            sent = time.monotonic()
            await cur.execute(_REGISTER, (self.id,))
            self._on_alive(sent + self.trust_window)
            probing = asyncio.create_task(self._probe(cur), name="listener probe")
            receiving = asyncio.create_task(self._receive(conn), name="listener receive")
            try:
                self._set_listening(True)
                done, _ = await asyncio.wait({probing, receiving}, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    task.result()  # re-raise why it ended
            finally:
                for task in (probing, receiving):
                    task.cancel()
                await asyncio.gather(probing, receiving, return_exceptions=True)
                self._set_listening(False)  # before the close, which may itself hang a moment

    async def _receive(self, conn: aiopg.Connection) -> None:
        """Until the connection fails (aiopg ends its queue with the error): the notifications
        themselves reach :meth:`_deliver` without it."""
        while True:
            self._deliver(await conn.notifies.get())

    def _deliver(self, message: psycopg2.extensions.Notify) -> None:
        self._heard_at = time.monotonic()
        if message.channel == self._probe_channel:
            echo = self._echo
            if echo is not None and message.payload == echo[0] and not echo[1].done():
                echo[1].set_result(None)
            return  # else the echo of a probe an earlier connection sent
        callback = self._callbacks.get(message.channel)
        if callback is None:
            return
        try:
            callback(message.payload)
        except Exception:
            log.exception("listener callback for %s failed", message.channel)

    async def _probe(self, cur: aiopg.Cursor) -> None:
        """Every probe_interval: a notification to ourselves; raise when the connection falls silent."""
        while True:
            await asyncio.sleep(self._probe_interval)
            # Numbered across connections: an echo of a probe an earlier connection sent proves nothing.
            self._probes_sent += 1
            sequence = self._probes_sent
            echoed = asyncio.get_running_loop().create_future()
            self._echo = (str(sequence), echoed)
            sent = time.monotonic()
            # aiopg's own timeout would end the connection while the answer waits behind a backlog of
            # notifications still arriving: silence is judged here instead.
            await self._unless_silent(
                cur.execute(_PROBE, (self.id, self._probe_channel, str(sequence)), timeout=_NO_TIMEOUT), sent
            )
            self._heard_at = time.monotonic()  # the statement's answer came
            await self._unless_silent(echoed, sent)
            # Everything committed before the probe was sent has been handled (it came back after).
            self._on_alive(sent + self.trust_window)

    async def _unless_silent(self, awaitable: Awaitable[None], since: float) -> None:
        """Await `awaitable`; raise ListenerSilent once nothing has come from the connection for
        probe_timeout seconds (counted from `since` at the earliest)."""
        waiting = asyncio.ensure_future(awaitable)
        try:
            while True:
                quiet_until = max(since, self._heard_at) + self._probe_timeout
                done, _ = await asyncio.wait({waiting}, timeout=max(0.0, quiet_until - time.monotonic()))
                if done:
                    waiting.result()
                    return
                if time.monotonic() >= max(since, self._heard_at) + self._probe_timeout:
                    raise ListenerSilent(f"nothing from the connection for {self._probe_timeout}s during a probe")
        finally:
            waiting.cancel()


async def notify(cur: Cursor, channel: str, payload: str = "") -> None:
    """Send a notification; inside a transaction it is delivered only if the transaction commits."""
    await cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))
