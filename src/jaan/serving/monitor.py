"""aiomonitor in a worker, with the service's own commands: ``pool``, ``requests``, ``settings``.

aiomonitor runs its terminal and web UI on a thread of its own, so it must start
after the fork (threads do not survive one).  It listens on 127.0.0.1 only: its
console is an unauthenticated Python prompt and is opened only with
``--monitor-console``.  The commands run on that thread and only read plain
attributes, so they answer even when the worker's event loop is stuck.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any

import aiomonitor
import click
from aiomonitor.termui.commands import auto_command_done, monitor_cli

from jaan.db.pool import Database
from jaan.serving.process import MonitorPorts
from jaan.serving.tracking import RequestTracker
from jaan.settings import Settings

log = logging.getLogger(__name__)
HOST = "127.0.0.1"


@dataclass
class MonitorContext:
    settings: Settings
    database: Database
    tracker: RequestTracker


_context: MonitorContext | None = None


def start_monitor(
    loop: asyncio.AbstractEventLoop, ports: MonitorPorts, context: MonitorContext
) -> aiomonitor.Monitor | None:
    """Start aiomonitor on this worker's ports; None (logged) when it cannot start."""
    global _context
    _context = context
    try:
        return aiomonitor.start_monitor(
            loop,
            host=HOST,
            port=ports.terminal,
            webui_port=ports.web,
            console_port=ports.console,
            console_enabled=context.settings.monitor_console,
            locals={"settings": context.settings, "database": context.database},
        )
    except OSError as exc:
        # The monitor is a debugging aid: a taken port must not keep the worker from serving.
        log.error("aiomonitor could not start on 127.0.0.1:%d: %s", ports.terminal, exc)
        return None


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


@monitor_cli.command(name="settings")  # type: ignore[untyped-decorator]
@auto_command_done  # type: ignore[untyped-decorator]
def do_settings(ctx: click.Context) -> None:
    """This worker's settings, secrets redacted"""
    values: dict[str, Any] = _ctx().settings.redacted()
    click.echo(json.dumps(values, indent=2, default=str))
