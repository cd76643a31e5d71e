"""``bin/serve``: the pre-fork supervisor (run) and the commands that steer a running one.

``bin/serve [flags]`` finds the database, applies migrations, binds the socket and
forks the workers; ``bin/serve status|reload|scale N|stop [--data-dir D]`` talk to
that master through its control socket.  See the README's operator's guide.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import resource
import sys
from collections.abc import Callable, Sequence
from typing import Any

import psycopg2

from jaan import logs
from jaan.db.locate import locate_database
from jaan.db.migrations import apply_migrations
from jaan.serving import budget as budgeting
from jaan.serving import control, sockets
from jaan.serving.status import format_table
from jaan.settings import Settings, parse_value

log = logging.getLogger("jaan.serve")

COMMANDS = ("status", "reload", "scale", "stop")


def add_setting_flags(parser: argparse.ArgumentParser) -> None:
    """One ``--flag`` per setting, named after it, defaulting to the environment's value."""
    for spec in dataclasses.fields(Settings):
        if not spec.metadata["flag"]:
            continue
        parser.add_argument(
            "--" + spec.name.replace("_", "-"),
            dest=spec.name,
            type=_parser_of(spec),
            default=None,
            help=f"{spec.metadata['meaning']} [{spec.metadata['env']}]",
        )


def _parser_of(spec: dataclasses.Field[Any]) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        return parse_value(spec, raw)

    return parse


def settings_from_args(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {spec.name: getattr(args, spec.name, None) for spec in dataclasses.fields(Settings)}
    return Settings.from_env(**overrides)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bin/serve", description=__doc__)
    add_setting_flags(parser)
    return parser.parse_args(argv)


def parse_command(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bin/serve", description="steer a running bin/serve")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, text in (
        ("status", "show the master and every worker"),
        ("reload", "replace every worker, each after its successor is ready"),
        ("scale", "change the number of workers"),
        ("stop", "stop gracefully and wait"),
    ):
        command = sub.add_parser(name, help=text)
        command.add_argument("--data-dir", type=_parser_of(_field("data_dir")), default=None)
        if name == "status":
            command.add_argument("--json", action="store_true", help="print the status as JSON")
            command.add_argument(
                "--queries",
                action="store_true",
                help="instead, the database's top statements by total time (pg_stat_statements)",
            )
            command.add_argument("--top", type=int, default=10, help="how many statements --queries lists")
        if name == "scale":
            command.add_argument("workers", type=int)
    return parser.parse_args(argv)


def _field(name: str) -> dataclasses.Field[Any]:
    return next(spec for spec in dataclasses.fields(Settings) if spec.name == name)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in COMMANDS:
        return steer(parse_command(argv))
    args = parse_args(argv)
    try:
        settings = settings_from_args(args)
        workers = budgeting.resolve_workers(settings.workers)
    except ValueError as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 2
    os.environ["JAAN_PROCESS_NAME"] = "master"
    logs.configure(settings.log_level, settings.log_json)
    try:
        return run(settings, workers)
    except (budgeting.BudgetError, control.AlreadyRunning) as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1


def run(settings: Settings, workers: int) -> int:
    """The master: database and migrations, the listening socket, then the workers until stopped."""
    # Heavy libraries load once here, so each fork starts serving sooner (no event loop or
    # thread is created by importing them); the app itself is imported after the fork.
    import aiohttp.web  # noqa: F401
    import aiomonitor  # noqa: F401
    import aiopg  # noqa: F401
    import uvloop  # noqa: F401

    from jaan import metrics
    from jaan.serving.database_supervisor import DatabaseSupervisor
    from jaan.serving.master import Master

    raise_open_files_limit()
    cpus = budgeting.usable_cpus()
    try:
        listener = sockets.bind(settings)
    except OSError as exc:
        reason = exc.strerror or exc
        print(f"serve: cannot listen on {settings.host}:{settings.port}: {reason}", file=sys.stderr)
        return 1
    if settings.accept_queues == "per-worker" and not sockets.migrates_queued_connections():
        log.warning(
            "net.ipv4.tcp_migrate_req is not 1: a worker that stops (reload, recycle) may reset a connection"
            " still in its accept queue; set it (README, Operating bin/serve) or JAAN_ACCEPT_QUEUES=shared"
        )
    controller = control.ControlServer(settings.run_dir)  # refuses a second master for this data dir
    metrics.share_between_processes(settings.run_dir)
    try:
        with locate_database(settings, budgeting.embedded_max_connections(settings, workers, cpus)) as database:
            dsn = database.dsn
            # Migrations hold a session-level advisory lock: straight to the primary, never a pooler.
            direct = settings.database_listen_url or dsn
            for migration in apply_migrations(direct):
                log.info("applied migration %04d_%s", migration.version, migration.name)
            plan = budgeting.plan_budget(settings, workers, budgeting.server_max_connections(direct), cpus)
            host, port = listener.getsockname()[:2]
            address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            supervisor = DatabaseSupervisor(database.cluster, kind=database.kind)
            return Master(settings, dsn, plan, listener, address, controller, supervisor).run()
    except Exception as exc:
        if isinstance(exc, budgeting.BudgetError):
            raise
        log.debug("startup failed", exc_info=True)
        print(f"serve: cannot start: {type(exc).__name__}: {str(exc).strip()}", file=sys.stderr)
        return 1
    finally:
        controller.close()
        listener.close()


def raise_open_files_limit() -> None:
    """Let the soft limit on open files reach the hard limit: thousands of connections per worker."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError) as exc:
            log.warning("could not raise the open-files limit from %d: %s", soft, exc)


def steer(args: argparse.Namespace) -> int:
    """``status``, ``reload``, ``scale`` and ``stop``: one request to the running master."""
    settings = Settings.from_env(data_dir=args.data_dir)
    run_dir = settings.run_dir
    try:
        if args.command == "status" and args.queries:
            return _print_queries(settings, args.top, args.json)
        if args.command == "status":
            snap = control.call(run_dir, "status")
            print(json.dumps(snap, indent=2) if args.json else format_table(snap))
            return 0
        if args.command == "scale":
            answer = control.call(run_dir, "scale", workers=args.workers)
            if not answer.get("ok"):
                print(f"serve: {answer.get('error')}", file=sys.stderr)
                return 1
            print(f"scaling to {args.workers} workers")
            return 0
        if args.command == "reload":
            return _reload(run_dir, settings)
        answer = control.call(run_dir, "stop")
        print(f"stopping master pid {answer.get('pid')}")
        gone = control.wait_until_gone(run_dir, settings.graceful_timeout + 15)
        print("stopped" if gone else "serve: the master has not exited yet")
        return 0 if gone else 1
    except control.NotRunning as exc:
        print(f"serve: {exc}", file=sys.stderr)
        return 1


def _print_queries(settings: Settings, top: int, as_json: bool) -> int:
    """The top statements of the database the service uses (found without starting anything)."""
    from jaan.db.embedded import EmbeddedPostgres
    from jaan.db.statements import StatementsUnavailable, format_statements, top_statements

    dsn = settings.database_listen_url or settings.database_url
    if not dsn:
        cluster = EmbeddedPostgres(settings.data_dir)
        if cluster.running_pid() is None:
            print(f"serve: the embedded PostgreSQL of {settings.data_dir} is not running", file=sys.stderr)
            return 1
        dsn = cluster.dsn
    try:
        rows = top_statements(dsn, top)
    except (StatementsUnavailable, psycopg2.Error) as exc:
        print(f"serve: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=2) if as_json else format_statements(rows))
    return 0


def _reload(run_dir: Any, settings: Settings) -> int:
    import time

    started = control.call(run_dir, "reload")["reload"]
    deadline = time.monotonic() + settings.ready_timeout * 2 + settings.graceful_timeout + 30
    while time.monotonic() < deadline:
        state = control.call(run_dir, "status")["master"]["reload"]
        if state["id"] != started["id"] or state["state"] != "running":
            print(f"reload {state['state']}: {state['message']}")
            return 0 if state["id"] == started["id"] and state["state"] == "done" else 1
        time.sleep(0.1)
    print("serve: the reload has not finished yet (see bin/serve status)", file=sys.stderr)
    return 1
