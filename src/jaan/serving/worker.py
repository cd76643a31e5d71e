"""The worker side of the fork: its own event loop, app, pool and monitor on the inherited socket.

Life of a worker: the master forks it; it resets the master's signal handlers, makes
a uvloop loop, builds the app (importing it only now, so a reload runs new code),
opens the pool, starts accepting on the inherited socket and aiomonitor, and tells
the master ``ready``.  From then on its loop writes a heartbeat with its counters to
the pipe.  SIGTERM drains it: stop accepting, close event streams with 1012 (their
clients resume elsewhere), answer every request still to come on a kept-alive
connection with ``Connection: close``, finish in-flight requests within the graceful
timeout, close the pool, exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import faulthandler
import gc
import logging
import os
import signal
import socket
import sys
import traceback
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import uvloop
from aiohttp import web
from setproctitle import setproctitle

from jaan import metrics
from jaan.serving.process import WorkerSpec, encode
from jaan.serving.slow_clients import ConnectionGuard
from jaan.serving.sockets import accept_queue_length, own_listener, refuse_new_connections
from jaan.serving.tracking import RequestTracker
from jaan.settings import Settings

if TYPE_CHECKING:
    from jaan.db.pool import Database
    from jaan.shop.events.feed import EventFeed
    from jaan.web.response_cache import ResponseCache

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
# Seconds a draining worker waits for idle keep-alive connections to send one more request
# (answered with Connection: close) before it closes them: closing an idle connection races
# a request the client may be sending at that instant.
IDLE_GRACE = 1.0
# Exit codes the master reads.
EXIT_OK, EXIT_FAILED_START, EXIT_CRASHED = 0, 3, 4
_RESET_SIGNALS = ("SIGHUP", "SIGTTIN", "SIGTTOU", "SIGCHLD", "SIGQUIT", "SIGUSR1", "SIGUSR2", "SIGTERM")


def run_worker(
    spec: WorkerSpec,
    settings: Settings,
    dsn: str,
    sock: socket.socket,
    channel: int,
    inherited: Iterable[int],
) -> int:
    """Everything a freshly forked worker does; returns its exit code (the caller ``os._exit``s)."""
    # What the master imported is shared with it page by page until written, and the collector's
    # passes write to every object they visit: set aside (never collected here: it is the master's,
    # not this worker's garbage), it stays shared (measured: ~20 MB less PSS for master + 2 workers).
    gc.freeze()
    for name in _RESET_SIGNALS:
        signal.signal(getattr(signal, name), signal.SIG_DFL)
    # Ctrl-C reaches the whole process group; the master turns it into a graceful stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.set_wakeup_fd(-1)
    for fd in inherited:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)  # master killed: drain and go
    os.environ["JAAN_PROCESS_NAME"] = f"worker {spec.slot}"
    setproctitle(f"jaan: worker {spec.slot}")
    # A hung worker gets SIGABRT from the master: dump every thread's stack to the log first.
    faulthandler.enable(file=sys.stderr, all_threads=True)
    os.set_blocking(channel, False)
    settings = dataclasses.replace(settings, pool_min=spec.pool_min, pool_max=spec.pool_max)
    worker = Worker(spec, settings, dsn, sock, channel)
    try:
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(worker.serve())
    except BaseException:
        log.exception("worker %d crashed", spec.slot)
        return EXIT_CRASHED
    finally:
        with contextlib.suppress(Exception):
            metrics.flush_tallies()  # a crash skips the drain's flush: what was counted still counts
        _flush_access_log()
        logging.shutdown()
        sys.stderr.flush()


class Worker:
    def __init__(self, spec: WorkerSpec, settings: Settings, dsn: str, sock: socket.socket, channel: int):
        self.spec = spec
        self.settings = settings
        self.dsn = dsn
        self.sock = sock
        self.channel = channel
        self.tracker = RequestTracker()
        self.guard = ConnectionGuard(settings.header_timeout, settings.body_min_rate)
        self.stop = asyncio.Event()
        self.parent = os.getppid()
        self.database: Database | None = None
        self.events: EventFeed | None = None
        self.response_cache: ResponseCache | None = None

    def send(self, kind: str, **fields: Any) -> None:
        try:
            os.write(self.channel, encode(kind, **fields))
        except BlockingIOError:
            pass  # the master is busy: a later heartbeat carries the same counters
        except OSError:
            self.stop.set()  # the master is gone

    async def serve(self) -> int:
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, self.stop.set)
        try:
            runner, server = await self._start_app()
            if self.settings.accept_queues == "per-worker":  # a queue of its own, from the moment it is ready
                self.sock = own_listener(self.sock, self.settings.backlog)
        except Exception as exc:
            log.exception("worker %d could not start", self.spec.slot)
            self.send("fatal", reason=_short(exc))
            return EXIT_FAILED_START
        handler_kwargs: dict[str, Any] = {
            "keepalive_timeout": self.settings.keepalive_timeout,
            "access_log_class": _access_log_class(),
            "access_log": logging.getLogger("jaan.access") if self.settings.access_log else None,
        }
        factory = self.guard.protocol_factory(server, **handler_kwargs)
        listener = await loop.create_server(factory, sock=self.sock, backlog=self.settings.backlog)
        watchdog = asyncio.create_task(self.guard.watch(), name="slow-client watchdog")
        self._start_monitor(loop, runner.app)
        self.send("ready", **self._counters())  # status shows the pool from the first moment
        beat = asyncio.create_task(self._heartbeat(), name="heartbeat")
        await self.stop.wait()
        log.info("draining: finishing in-flight requests")
        await self._drain(listener, runner)
        beat.cancel()
        watchdog.cancel()
        return EXIT_OK

    async def _start_app(self) -> tuple[web.AppRunner, web.Server]:
        # Imported after the fork: a reload serves the new code.
        from jaan.app import create_app
        from jaan.shop.events.feed import EVENT_FEED
        from jaan.state import DATABASE
        from jaan.web.response_cache import RESPONSE_CACHE

        app = create_app(self.settings, self.dsn)
        self.database = app[DATABASE]
        self.events = app[EVENT_FEED]
        self.response_cache = app[RESPONSE_CACHE]
        self.tracker.install(app)
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=1.0)
        await runner.setup()  # runs the app's startup: the pool is open once this returns
        assert runner.server is not None
        return runner, runner.server

    def _start_monitor(self, loop: asyncio.AbstractEventLoop, app: web.Application) -> None:
        if self.spec.monitor_ports is None:
            return
        from jaan.serving.monitor import MonitorContext, start_monitor
        from jaan.state import DATABASE

        context = MonitorContext(self.settings, app[DATABASE], self.tracker, self.events)
        start_monitor(loop, self.spec.monitor_ports, context)

    async def _heartbeat(self) -> None:
        # Sent from the event loop itself: a loop stuck in a handler stops the beat.
        while True:
            counters = self._counters()
            cache_bytes = self.response_cache.held_bytes if self.response_cache is not None else 0
            metrics.sample_worker(self.tracker.in_flight_count, counters["pool"], counters["subscribers"], cache_bytes)
            self.send("beat", **counters)
            if self.spec.max_requests and self.tracker.served >= self.spec.max_requests and not self.stop.is_set():
                # Asked again every beat: a successor that failed to start is retried later.
                self.send("recycle", reason=f"served {self.tracker.served} requests")
            if os.getppid() != self.parent:
                self.stop.set()
            await asyncio.sleep(self.spec.heartbeat_interval)

    def _counters(self) -> dict[str, Any]:
        """What `bin/serve status` shows of this worker: sent with "ready" and with every beat."""
        try:
            pool = self.database.stats() if self.database is not None else None
        except Exception:  # closed while draining
            pool = None
        return {
            "requests": self.tracker.served,
            "in_flight": self.tracker.in_flight_count,
            "pool": pool,
            "rejected": self.guard.rejected,
            "subscribers": self.events.counts() if self.events is not None else None,
        }

    async def _drain(self, listener: asyncio.AbstractServer, runner: web.AppRunner) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.1, self.settings.graceful_timeout - 0.5)
        self.tracker.draining = True
        if self.settings.accept_queues == "per-worker" and not refuse_new_connections(self.sock):
            log.warning("cannot filter new connections: some queued at the very end may be reset")
        # Keep accepting while the kernel still holds queued connections: on a full stop nobody
        # else will (new ones are filtered out), on a reload of a shared queue the others would.
        await _wait_while(lambda: accept_queue_length(self.sock) > 0, min(loop.time() + 1.0, deadline))
        listener.close()
        if self.events is not None:
            # Event streams never finish on their own: close them (1012) so their clients
            # reconnect, to the new worker on a reload, and resume where they left off.
            await self.events.close_all()
        told = self.tracker.told_to_close

        def some_idle_may_still_send() -> bool:
            # A kept-alive connection not yet answered with "Connection: close" may be sending a
            # request right now: closing it would reset that request.
            return any(c.transport is not None and c.is_idle() and c not in told for c in self.guard.connections)

        def busy_connections() -> int:
            return sum(1 for c in self.guard.connections if c.transport is not None and not c.is_idle())

        await _wait_while(some_idle_may_still_send, min(loop.time() + IDLE_GRACE, deadline))
        await _wait_while(lambda: busy_connections() > 0, deadline)
        busy = busy_connections()
        if busy:
            log.warning("graceful timeout: cancelling %d requests still in flight", busy)
        await runner.cleanup()  # closes idle connections and the pool
        metrics.flush_tallies()  # the counts since the last heartbeat, before the worker exits


async def _wait_while(condition: Callable[[], bool], until: float) -> None:
    """Poll ``condition`` until it is false or the loop's clock reaches ``until``."""
    loop = asyncio.get_running_loop()
    while loop.time() < until:
        if not condition():
            return
        await asyncio.sleep(0.02)


def _flush_access_log() -> None:
    """The last buffered access-log lines (the app, if it was ever imported, buffers them)."""
    access_log = sys.modules.get("jaan.web.access_log")
    if access_log is not None:
        with contextlib.suppress(Exception):
            access_log.flush()


def _access_log_class() -> Any:
    from jaan.web.access_log import AccessLogger

    return AccessLogger


def _short(exc: BaseException) -> str:
    """The reason a worker failed, short enough for one atomic pipe message."""
    text = "".join(traceback.format_exception_only(exc)).strip()
    return text[-1500:]
