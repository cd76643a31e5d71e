"""aiomonitor in a worker, with the service's own commands: ``pool``, ``requests``, ``settings``.

aiomonitor runs its terminal (and web UI) on a thread of its own, so it must start
after the fork (threads do not survive one).  It listens on 127.0.0.1 only.  Its web UI
offers "Cancel" on any task to whoever reaches the port, and its console is a Python
prompt, both unauthenticated: each opens only when asked (``--monitor-web``,
``--monitor-console``); the terminal stays.  The commands run on that thread and only
read plain attributes, so they answer even when the worker's event loop is stuck.
``events`` shows the live-event subscribers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import aiomonitor
import aiomonitor.monitor
import click
import janus
from aiomonitor.termui.commands import auto_command_done, interact, monitor_cli
from prompt_toolkit.contrib.telnet.server import TelnetServer

from jaan.db.pool import Database
from jaan.serving.process import MonitorPorts
from jaan.serving.tracking import RequestTracker
from jaan.settings import Settings

if TYPE_CHECKING:
    from jaan.shop.events.feed import EventFeed

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass
class MonitorContext:
    settings: Settings
    database: Database
    tracker: RequestTracker
    events: EventFeed | None = None


_context: MonitorContext | None = None


def start_monitor(
    loop: asyncio.AbstractEventLoop, ports: MonitorPorts, context: MonitorContext
) -> aiomonitor.Monitor | None:
    """Start aiomonitor on this worker's ports; None (logged) when it cannot start."""
    global _context
    _context = context
    monitor_class = aiomonitor.Monitor if context.settings.monitor_web else TerminalMonitor
    try:
        monitor: aiomonitor.Monitor = monitor_class(
            loop,
            host=HOST,
            termui_port=ports.terminal,
            webui_port=ports.web,
            console_port=ports.console,
            console_enabled=context.settings.monitor_console,
            locals={"settings": context.settings, "database": context.database},
        )
        monitor.start()
        return monitor
    except OSError as exc:
        # The monitor is a debugging aid: a taken port must not keep the worker from serving.
        log.error("aiomonitor could not start on 127.0.0.1:%d: %s", ports.terminal, exc)
        return None


class TerminalMonitor(aiomonitor.Monitor):  # type: ignore[misc]
    """aiomonitor with its terminal (and console, if enabled) but no web UI, for which it has no switch.

    ``_ui_main_async`` is aiomonitor 0.7's own (setup.cfg pins <0.8) less the web UI's lines.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, **options: Any) -> None:
        quiet = logging.getLogger(aiomonitor.monitor.__name__)
        was_disabled, quiet.disabled = quiet.disabled, True  # its start line names the web UI's port
        try:
            super().__init__(loop, **options)
        finally:
            quiet.disabled = was_disabled
        log.info("aiomonitor terminal at telnet://%s:%d (web UI off)", self.host, self.port)

    async def _ui_main_async(self) -> None:
        loop = asyncio.get_running_loop()
        self._termination_info_queue: janus.Queue[Any] = janus.Queue()
        self._cancellation_chain_queue: janus.Queue[Any] = janus.Queue()
        self._ui_loop = loop
        self._ui_forever_future = loop.create_future()
        self._ui_termination_handler_task = loop.create_task(self._ui_handle_termination_updates())
        self._ui_cancellation_handler_task = loop.create_task(self._ui_handle_cancellation_updates())
        telnet_server = TelnetServer(
            interact=functools.partial(interact, self), host=self._host, port=self._termui_port
        )
        telnet_server.start()
        await asyncio.sleep(0)
        self._ui_started.set()
        try:
            await self._ui_forever_future
        except asyncio.CancelledError:
            pass
        finally:
            termui_tasks = {*self._termui_tasks}
            for termui_task in termui_tasks:
                termui_task.cancel()
            await asyncio.gather(*termui_tasks, return_exceptions=True)
            self._ui_termination_handler_task.cancel()
            self._ui_cancellation_handler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ui_termination_handler_task
            with contextlib.suppress(asyncio.CancelledError):
                await self._ui_cancellation_handler_task
            await telnet_server.stop()


def _ctx() -> MonitorContext:
    if _context is None:
        raise click.ClickException("this process has no worker context")
    return _context


def pool_lines(database: Database) -> list[str]:
    """The ``pool`` command's output."""
    try:
        stats = database.stats()
    except Exception as exc:  # the pool may be closed while the worker drains
        return [f"pool unavailable: {exc}"]
    return [f"{key:8} {value}" for key, value in stats.items()]


def request_lines(tracker: RequestTracker) -> list[str]:
    """The ``requests`` command's output: one line per in-flight request, oldest first."""
    lines = [f"served {tracker.served}, in flight {tracker.in_flight_count}"]
    lines += [f"{r.age:8.3f}s  {r.method:7} {r.path}  rid={r.request_id}" for r in tracker.in_flight()]
    return lines


@monitor_cli.command(name="pool")  # type: ignore[untyped-decorator]
@auto_command_done  # type: ignore[untyped-decorator]
def do_pool(ctx: click.Context) -> None:
    """Database pool: size, free, min, max, waiting acquirers"""
    click.echo("\n".join(pool_lines(_ctx().database)))


@monitor_cli.command(name="requests")  # type: ignore[untyped-decorator]
@auto_command_done  # type: ignore[untyped-decorator]
def do_requests(ctx: click.Context) -> None:
    """In-flight requests: age, method, path, request id"""
    click.echo("\n".join(request_lines(_ctx().tracker)))


def event_lines(feed: EventFeed | None) -> list[str]:
    """The ``events`` command's output: live-event subscribers and what the feed has read."""
    if feed is None:
        return ["no event feed in this process"]
    for _ in range(5):
        try:
            subscribers = list(feed.subscribers)  # another thread's set: copy, retry if it changed meanwhile
            break
        except RuntimeError:
            continue
    else:
        subscribers = []
    admins = sum(1 for s in subscribers if s.admin)
    deepest = max((len(s.pending) for s in subscribers), default=0)
    return [
        f"subscribers  {len(subscribers)} ({admins} admin, {len(subscribers) - admins} customer)",
        f"last event   {feed.last_id}",
        f"delivered    {feed.delivered}",
        f"deepest buffer {deepest}",
        f"closing      {feed.closing}",
    ]


@monitor_cli.command(name="events")  # type: ignore[untyped-decorator]
@auto_command_done  # type: ignore[untyped-decorator]
def do_events(ctx: click.Context) -> None:
    """Live-event streams: subscribers, last event read, events delivered"""
    click.echo("\n".join(event_lines(_ctx().events)))


@monitor_cli.command(name="settings")  # type: ignore[untyped-decorator]
@auto_command_done  # type: ignore[untyped-decorator]
def do_settings(ctx: click.Context) -> None:
    """This worker's settings, secrets redacted"""
    values: dict[str, Any] = _ctx().settings.redacted()
    click.echo(json.dumps(values, indent=2, default=str))
