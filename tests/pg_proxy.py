"""A PostgreSQL proxy the tests control: it can hold back notifications, or go silent.

It forwards 127.0.0.1:<port> to the server of a DSN (TCP or unix socket), in a thread of its
own, so sync and async tests alike can use it.  Two faults, each as a real network shows them:

- ``notification_delay``: every NotificationResponse from the server reaches the client that many
  seconds late (and whatever follows it waits behind it: order is kept).  A slow path from the
  database to one listener, without touching the code under test.
- ``go_silent()``: from now on nothing is forwarded either way and no connection is closed: a
  failover, a NAT that forgot the flow, a cable pulled.  Only keepalives or probes can notice.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import threading
import time
from collections.abc import Iterator

import psycopg2.extensions

NOTIFICATION = ord("A")


class PgProxy:
    def __init__(self, dsn: str, notification_delay: float = 0.0) -> None:
        params = psycopg2.extensions.parse_dsn(dsn)
        self.upstream_host = params.get("host", "localhost")
        self.upstream_port = int(params.get("port", 5432))
        self.notification_delay = notification_delay
        self.silent = threading.Event()
        self.connections = 0
        self._params = params
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self.port = 0

    def dsn(self) -> str:
        """The DSN that reaches the same database through this proxy (TCP, no TLS to parse around)."""
        params = {**self._params, "host": "127.0.0.1", "port": str(self.port)}
        return str(psycopg2.extensions.make_dsn(**params, sslmode="disable", gssencmode="disable"))

    def start(self) -> PgProxy:
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(10)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    def go_silent(self) -> None:
        self.silent.set()

    def recover(self) -> None:
        """New connections work again (the silent ones stay dead, as after a real outage)."""
        self.silent.clear()

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
                await self._server.wait_closed()
            for writer in self._writers:
                writer.close()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self) -> asyncio.Server:
        return await asyncio.start_server(self._serve, "127.0.0.1", 0)

    async def _open_upstream(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.upstream_host.startswith("/"):
            return await asyncio.open_unix_connection(f"{self.upstream_host}/.s.PGSQL.{self.upstream_port}")
        return await asyncio.open_connection(self.upstream_host, self.upstream_port)

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(asyncio.CancelledError, ConnectionError):  # stop() cancels: not an error
            await self._forward(client_reader, client_writer)

    async def _forward(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(client_writer)
        server_reader, server_writer = await self._open_upstream()
        self._writers.append(server_writer)
        tasks = [
            asyncio.create_task(self._pipe(client_reader, server_writer)),
            asyncio.create_task(self._from_server(server_reader, client_writer)),
        ]
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            if not self.silent.is_set():  # a silent network closes nothing
                client_writer.close()
                server_writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if self.silent.is_set():
                await asyncio.Event().wait()  # swallow it, and everything after it, for good
            writer.write(data)
            await writer.drain()

    async def _from_server(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Message by message (type byte, length), so notifications can be held back in order."""
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()

        async def deliver() -> None:
            while (item := await queue.get()) is not None:
                due, message = item
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                if self.silent.is_set():
                    await asyncio.Event().wait()
                writer.write(message)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        try:
            while True:
                header = await reader.readexactly(5)
                (length,) = struct.unpack("!I", header[1:])
                message = header + await reader.readexactly(length - 4)
                delay = self.notification_delay if header[0] == NOTIFICATION else 0.0
                queue.put_nowait((time.monotonic() + delay, message))
        except (asyncio.IncompleteReadError, ConnectionError):
            queue.put_nowait(None)
            await delivering
        finally:
            delivering.cancel()


@contextlib.contextmanager
def pg_proxy(dsn: str, notification_delay: float = 0.0) -> Iterator[PgProxy]:
    proxy = PgProxy(dsn, notification_delay).start()
    try:
        yield proxy
    finally:
        proxy.stop()
