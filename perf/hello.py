"""The HTTP ceiling: a bare aiohttp app answering ``GET /api/health`` under N pre-forked workers.

It is served the way bin/serve serves (the port bound before the fork; each worker listening on
a socket of its own in the port's SO_REUSEPORT group, made by the same function, or with
``--accept-queues shared`` one listening socket shared by every worker; the same backlog,
uvloop, no access log, the same keep-alive timeout), so the gap between it and the service is
what our middlewares, handlers and database cost.

    python perf/hello.py --port 8100 --workers 2

prints ``ready: N workers on http://H:P`` on stderr once every worker listens, like bin/serve.
SIGTERM or SIGINT stops it; the workers die with the parent.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import datetime as dt
import os
import signal
import socket
import sys

from aiohttp import web

from jaan.serving.sockets import own_listener

_PR_SET_PDEATHSIG = 1


async def health(request: web.Request) -> web.Response:
    """The same body shape as the service's health check."""
    now = dt.datetime.now(dt.UTC).isoformat().replace("+00:00", "Z")
    return web.json_response({"status": "ok", "timestamp": now})


async def _serve(sock: socket.socket, ready_fd: int, per_worker: bool, backlog: int) -> None:
    app = web.Application()
    app.router.add_get("/api/health", health)
    runner = web.AppRunner(app, access_log=None, handle_signals=False, keepalive_timeout=75.0)
    await runner.setup()
    assert runner.server is not None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    if per_worker:  # as bin/serve's workers do: a queue of its own in the port's reuseport group
        sock = own_listener(sock, backlog)
    server = await loop.create_server(runner.server, sock=sock, backlog=backlog)
    os.write(ready_fd, b"r")
    os.close(ready_fd)
    await stop.wait()
    server.close()
    await runner.cleanup()


def _worker(sock: socket.socket, ready_fd: int, per_worker: bool, backlog: int) -> None:
    # Die with the parent, whatever kills it.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    try:
        import uvloop

        uvloop.run(_serve(sock, ready_fd, per_worker, backlog))
    except ImportError:  # the service needs uvloop; the ceiling still runs without it
        asyncio.run(_serve(sock, ready_fd, per_worker, backlog))
    os._exit(0)


def main(argv: list[str] | None = None) -> int:
    """Bind, fork the workers, report ready, and wait for a signal; 0 on a clean stop."""
    parser = argparse.ArgumentParser(prog="hello", description="A bare aiohttp app: the HTTP ceiling.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--backlog", type=int, default=4096, help="listen backlog (bin/serve's default)")
    parser.add_argument(
        "--accept-queues",
        choices=("per-worker", "shared"),
        default="per-worker",
        help="one accept queue per worker (SO_REUSEPORT) or one shared by all, as bin/serve's accept_queues"
        " (default: per-worker, bin/serve's default)",
    )
    args = parser.parse_args(argv)

    per_worker = args.accept_queues == "per-worker"
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    if per_worker:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # bound, not listening: holds the port
    else:
        sock.listen(args.backlog)
    sock.setblocking(False)
    read_end, write_end = os.pipe()
    children = []
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            _worker(sock, write_end, per_worker, args.backlog)
        children.append(pid)
    os.close(write_end)
    ready = 0
    while ready < args.workers:
        chunk = os.read(read_end, args.workers)
        if not chunk:
            print("hello: a worker died before it was ready", file=sys.stderr)
            break
        ready += len(chunk)
    if ready == args.workers:
        print(f"ready: {args.workers} workers on http://{args.host}:{args.port}", file=sys.stderr, flush=True)

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while not stopping and ready == args.workers:
        signal.pause()
    for pid in children:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    for pid in children:
        os.waitpid(pid, 0)
    return 0 if ready == args.workers else 1


if __name__ == "__main__":
    sys.exit(main())
