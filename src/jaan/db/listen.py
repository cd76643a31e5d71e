"""LISTEN/NOTIFY on a dedicated connection.

A LISTEN belongs to a session, so it must never ride on a pooled connection (the next
borrower would inherit it and the listener would miss notifications while the connection
is lent out).  :class:`Listener` owns one connection of its own, reconnects when it drops,
and hands each notification's payload to the callback registered for its channel.
It counts as one connection in the service's connection budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping

import aiopg
import psycopg2

from jaan.db.pool import Cursor

log = logging.getLogger(__name__)

Callback = Callable[[str], None]


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
    ) -> None:
        self._dsn = dsn
        self._callbacks = dict(callbacks)
        self._retry_delay = retry_delay
        self._on_state = on_state or (lambda listening: None)
        self._task: asyncio.Task[None] | None = None
        self.listening = asyncio.Event()

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
        self._set_listening(False)

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
            except (psycopg2.Error, OSError) as exc:
                self._set_listening(False)
                log.warning("listener connection lost (%s); reconnecting in %ss", exc, self._retry_delay)
                await asyncio.sleep(self._retry_delay)

    async def _listen_once(self) -> None:
        async with aiopg.connect(self._dsn, enable_hstore=False) as conn:
            async with conn.cursor() as cur:
                for channel in self._callbacks:
                    await cur.execute(f'LISTEN "{channel}"')
            self._set_listening(True)
            while True:
                message = await conn.notifies.get()
                callback = self._callbacks.get(message.channel)
                if callback is None:
                    continue
                try:
                    callback(message.payload)
                except Exception:
                    log.exception("listener callback for %s failed", message.channel)


async def notify(cur: Cursor, channel: str, payload: str = "") -> None:
    """Send a notification; inside a transaction it is delivered only if the transaction commits."""
    await cur.execute("SELECT pg_notify(%s, %s)", (channel, payload))
