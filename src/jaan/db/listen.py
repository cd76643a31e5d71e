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
back within ``probe_timeout``; TCP keepalives also run on the connection.  A probe that does not
come back ends the connection (``on_state(False)``: caches are bypassed) and the listener
reconnects; the caches are rebuilt once it listens again.

Each listener also registers itself in the ``listeners`` table and refreshes its heartbeat with
every probe, so a writer can tell which listeners are alive, and tells its owner how long its
caches may be trusted (``on_alive``): a probe that came back proves that every notification
committed before it was sent has been handled, so until ``trust_window`` seconds after the
probe was sent, nothing can have been missed.  A worker that stops hearing its probes stops
trusting its caches at that deadline, by itself, even if its event loop was stuck meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Callable, Mapping

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


class ListenerSilent(Exception):
    """The listener's own probe did not come back in time: its connection is presumed dead."""


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
        self._probe_echo: asyncio.Queue[str] = asyncio.Queue()
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
        while True:
            message = await conn.notifies.get()
            if message.channel == self._probe_channel:
                self._probe_echo.put_nowait(message.payload)
                continue
            callback = self._callbacks.get(message.channel)
            if callback is None:
                continue
            try:
                callback(message.payload)
            except Exception:
                log.exception("listener callback for %s failed", message.channel)

    async def _probe(self, cur: aiopg.Cursor) -> None:
        """Every probe_interval: a notification to ourselves, back within probe_timeout, or raise."""
        sequence = 0
        while True:
            await asyncio.sleep(self._probe_interval)
            sequence += 1
            expected = str(sequence)
            sent = time.monotonic()
            try:
                async with asyncio.timeout(self._probe_timeout):
                    await cur.execute(_PROBE, (self.id, self._probe_channel, expected))
                    while await self._probe_echo.get() != expected:
                        pass  # a late echo of an earlier probe
            except TimeoutError:
                raise ListenerSilent(f"no answer to the liveness probe within {self._probe_timeout}s") from None
            # Everything committed before the probe was sent has been handled (it came back after).
            self._on_alive(sent + self.trust_window)


async def notify(cur: Cursor, channel: str, payload: str = "") -> None:
    """Send a notification; inside a transaction it is delivered only if the transaction commits."""
    await cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))
