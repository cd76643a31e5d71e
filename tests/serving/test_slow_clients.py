"""Slow clients: a late request head or a trickling body is answered 408 and closed; others are served."""

from __future__ import annotations

import asyncio
import contextlib
import selectors
import socket
import time
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from jaan.serving.slow_clients import ConnectionGuard

PARTIAL_HEAD = b"GET /api/health HTTP/1.1\r\nHost: slowloris\r\nX-Trickle: 1\r\n"


def test_a_thousand_slowloris_sockets_neither_block_other_clients_nor_stay_open(serve):
    service = serve("--workers", "2", "--header-timeout", "2")
    slow: list[socket.socket] = []
    try:
        for _ in range(1000):
            sock = socket.create_connection(("127.0.0.1", service.port), timeout=30)
            sock.sendall(PARTIAL_HEAD)
            slow.append(sock)
        for _ in range(20):  # while the slow sockets are open (on a quiet machine: the test waits, not times)
            assert service.get(timeout=30)[0] == 200

        closed, answers = wait_closed(slow, timeout=60)
        assert closed == len(slow)
        assert answers[b"HTTP/1.1 408"] == len(slow)
    finally:
        for sock in slow:
            sock.close()
    service.wait_until(lambda s: sum(w["slow_clients_rejected"] for w in s["workers"]) >= 1000, timeout=30)


def wait_closed(socks: list[socket.socket], timeout: float) -> tuple[int, dict[bytes, int]]:
    """Read every socket until the server closes it; count closes and the answers' status lines."""
    selector = selectors.DefaultSelector()
    by_fd = {sock.fileno(): sock for sock in socks}
    for sock in socks:
        sock.setblocking(False)
        selector.register(sock, selectors.EVENT_READ, b"")
    answers: dict[bytes, int] = {}
    closed = 0
    deadline = time.monotonic() + timeout
    while closed < len(socks) and time.monotonic() < deadline:
        for key, _ in selector.select(0.2):
            sock = by_fd[key.fd]
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                chunk = b""
            if chunk:
                selector.modify(sock, selectors.EVENT_READ, key.data + chunk)
                continue
            status = key.data[:12]
            answers[status] = answers.get(status, 0) + 1
            selector.unregister(sock)
            closed += 1
    selector.close()
    return closed, answers


@pytest.fixture
async def echo_server() -> AsyncIterator[int]:
    """An in-process server that reads whole bodies, behind the guard (2 s head, 1000 B/s body)."""

    async def echo(request: web.Request) -> web.Response:
        return web.Response(body=await request.read())

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    assert runner.server is not None
    guard = ConnectionGuard(header_timeout=0.5, body_min_rate=1000, interval=0.1)
    server = await asyncio.get_running_loop().create_server(guard.protocol_factory(runner.server), "127.0.0.1", 0)
    watchdog = asyncio.create_task(guard.watch())
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        watchdog.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await watchdog
        server.close()
        await runner.cleanup()


async def test_a_body_slower_than_the_minimum_rate_is_cut_off(echo_server: int):
    started = time.monotonic()  # before the connection: the grace counts from it
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100)
    await writer.drain()
    rest = await asyncio.wait_for(reader.read(), timeout=30)  # EOF: the server hung up
    assert rest == b""
    assert time.monotonic() - started >= 0.5  # not before the grace
    writer.close()


async def test_a_body_at_a_fair_rate_and_a_prompt_head_are_served(echo_server: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_server)
    writer.write(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4000\r\n\r\n")
    for _ in range(8):  # 4000 bytes in 0.4 s: 10000 B/s, ten times the minimum
        writer.write(b"y" * 500)
        await writer.drain()
        await asyncio.sleep(0.05)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=30)
    assert head.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_a_late_head_gets_408_on_the_in_process_server_too(echo_server: int):
    reader, writer = await asyncio.open_connection("127.0.0.1", echo_server)
    writer.write(b"POST /echo HTTP/1.1\r\n")
    answer = await asyncio.wait_for(reader.read(), timeout=30)
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout")
    writer.close()
