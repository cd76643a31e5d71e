"""A worker accepts a few queued connections per wake-up, leaving the rest to its siblings, and serves all it takes."""

from __future__ import annotations

import asyncio
import socket

from aiohttp import web

from jaan.serving import accepting
from jaan.serving.accepting import Acceptor
from jaan.serving.sockets import accept_queue_length


async def _hello(request: web.BaseRequest) -> web.Response:
    return web.Response(text="hello")


def _listening() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(512)
    sock.setblocking(False)
    return sock


async def _ask(port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
    answer = await asyncio.wait_for(reader.read(), timeout=30)
    writer.close()
    return answer


async def test_a_burst_is_taken_a_batch_per_wake_up_and_every_connection_is_served():
    server = web.Server(_hello)
    listening = _listening()
    port = listening.getsockname()[1]
    burst = 5 * accepting.BATCH
    clients = [socket.create_connection(("127.0.0.1", port)) for _ in range(burst)]
    try:
        # The kernel has completed every handshake: all of them wait in the one queue.
        assert accept_queue_length(listening) == burst
        acceptor = Acceptor(listening, server)
        acceptor._accept_some()  # one wake-up
        assert acceptor.accepted == accepting.BATCH
        assert accept_queue_length(listening) == burst - accepting.BATCH  # left for the other workers
        acceptor.start()
        answers = await asyncio.gather(*(_ask(port) for _ in range(20)))
        assert all(answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"hello") for answer in answers)
        for _ in range(300):  # the queued ones are all taken once the loop runs
            if acceptor.accepted == burst + 20:
                break
            await asyncio.sleep(0.05)
        assert acceptor.accepted == burst + 20
        acceptor.close()
        late = socket.create_connection(("127.0.0.1", port))  # closed: it stays queued, for another worker
        await asyncio.sleep(0.2)
        assert accept_queue_length(listening) == 1 and acceptor.accepted == burst + 20
        late.close()
    finally:
        for client in clients:
            client.close()
        listening.close()
        await server.shutdown(1.0)
