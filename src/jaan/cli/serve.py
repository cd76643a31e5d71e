"""``bin/serve``: find the database, apply migrations, serve the API until told to stop."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import functools
import logging
import signal
import sys
from collections.abc import Sequence
from typing import Any

import uvloop
from aiohttp import web

from jaan import logs
from jaan.app import create_app
from jaan.db.locate import database_dsn
from jaan.db.migrations import apply_migrations
from jaan.settings import Settings, parse_value
from jaan.web.access_log import AccessLogger

log = logging.getLogger("jaan.serve")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting, named after it, defaulting to the environment's value."""
    for spec in dataclasses.fields(Settings):
        if not spec.metadata["flag"]:
            continue
        parser.add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=spec.name,
            type=functools.partial(parse_value, spec),
            default=None,
            help=f"{spec.metadata['meaning']} [{spec.metadata['env']}]",
        )


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        spec.name: getattr(args, spec.name, None) for spec in dataclasses.fields(Settings)
    }
    return Settings.from_env(**overrides)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bin/serve", description=__doc__)
    add_setting_flags(parser)
    return parser.parse_args(argv)


async def serve(settings: Settings, dsn: str) -> None:
    app = create_app(settings, dsn)
    runner = web.AppRunner(
        app,
        access_log_class=AccessLogger,
        access_log=logging.getLogger("jaan.access") if settings.access_log else None,
        handle_signals=False,
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, backlog=1024)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    print(f"ready: 1 workers on http://{settings.host}:{settings.port}", file=sys.stderr, flush=True)
    await stop.wait()
    log.info("stopping: finishing in-flight requests")
    await runner.cleanup()


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = settings_from_args(args)
    except ValueError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_json)
    if settings.workers != "1":
        log.warning("--workers %s: this build runs a single process", settings.workers)
    with database_dsn(settings) as dsn:
        for migration in apply_migrations(dsn):
            log.info("applied migration %04d_%s", migration.version, migration.name)
        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            runner.run(serve(settings, dsn))
    return 0
