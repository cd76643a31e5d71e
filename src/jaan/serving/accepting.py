"""Accepting connections from the shared listening socket a few at a time, so workers share a burst.

All workers wait on the master's one listening socket (one accept queue, see
:mod:`jaan.serving.sockets`: a reload loses nothing because the others keep accepting).  An
asyncio server on it accepts until the queue is empty each time the socket is readable: the
first worker to wake takes a whole burst (5,000 connections opened at once), the others get
none, and that worker's clients wait while its sibling idles.  Here each wake-up accepts at most
``BATCH`` connections and returns to the event loop; the socket is still readable, so every
worker keeps taking turns, and a worker busy with requests (longer loop iterations) takes fewer.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
from collections.abc import Callable

log = logging.getLogger(__name__)

BATCH = 16  # connections accepted per wake-up before the loop runs anything else
# The process is out of file descriptors or memory: the kernel keeps the connection queued.
_RESOURCE_ERRORS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
PAUSE_ON_RESOURCE_ERROR = 0.1  # seconds before trying again (what asyncio's own server does, 1 s there)


class Acceptor:
    """Accepts from `sock` while open, handing each connection to `protocol_factory`'s protocol."""

    def __init__(self, sock: socket.socket, protocol_factory: Callable[[], asyncio.Protocol]) -> None:
        self.sock = sock
        self.protocol_factory = protocol_factory
        self.loop = asyncio.get_running_loop()
        self.accepted = 0
        self._open = False
        self._pending: set[asyncio.Task[object]] = set()

    def start(self) -> None:
        self._open = True
        self.loop.add_reader(self.sock.fileno(), self._accept_some)

    def close(self) -> None:
        """Accept no more (what is queued stays queued for the other workers)."""
        if self._open:
            self._open = False
            self.loop.remove_reader(self.sock.fileno())

    def _accept_some(self) -> None:
        for _ in range(BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return  # another worker took it, or the queue is empty
            except ConnectionAbortedError:
                continue  # the client gave up while queued
            except OSError as exc:
                if exc.errno not in _RESOURCE_ERRORS:
                    raise
                log.warning("cannot accept connections (%s): pausing %ss", exc, PAUSE_ON_RESOURCE_ERROR)
                self.loop.remove_reader(self.sock.fileno())
                self.loop.call_later(PAUSE_ON_RESOURCE_ERROR, self._resume)
                return
            self.accepted += 1
            conn.setblocking(False)
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # as asyncio's servers do
            task = self.loop.create_task(self._connect(conn))
            self._pending.add(task)
            task.add_done_callback(self._pending.discard)

    def _resume(self) -> None:
        if self._open:
            self.loop.add_reader(self.sock.fileno(), self._accept_some)

    async def _connect(self, conn: socket.socket) -> None:
        try:
            await self.loop.connect_accepted_socket(self.protocol_factory, conn)
        except OSError:
            conn.close()  # reset before we got to it
