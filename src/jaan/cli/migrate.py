"""``bin/migrate``: apply the pending database migrations (safe while the service runs)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import psycopg2

from jaan.db.embedded import EmbeddedPostgresError
from jaan.db.locate import database_dsn
from jaan.db.migrations import (
    MIGRATIONS_DIR,
    Migration,
    MigrationError,
    apply_migrations,
    discover,
    pending,
)
from jaan.settings import Settings


def main(argv: list[str] | None = None) -> int:
    """Run ``bin/migrate``; the exit status is 0 when the database is up to date, else 1."""
    parser = argparse.ArgumentParser(prog="migrate", description="Apply pending database migrations.")
    parser.add_argument(
        "--data-dir",
        type=Path,
        metavar="D",
        help="data directory of the embedded database (default: JAAN_DATA_DIR, else var/)",
    )
    parser.add_argument("--list", action="store_true", help="show applied and pending migrations; change nothing")
    # For tests: a directory of migration files other than the repository's.
    parser.add_argument("--migrations-dir", type=Path, default=MIGRATIONS_DIR, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")

    try:
        data_dir = args.data_dir.expanduser().resolve() if args.data_dir else None
        settings = Settings.from_env(data_dir=data_dir)
        with database_dsn(settings, direct=True) as dsn:
            if args.list:
                _print_list(dsn, args.migrations_dir)
            else:
                _print_applied(apply_migrations(dsn, args.migrations_dir))
    except (MigrationError, EmbeddedPostgresError, psycopg2.OperationalError, ValueError) as exc:
        print(f"migrate: {str(exc).strip()}", file=sys.stderr)
        return 1
    return 0


def _print_list(dsn: str, directory: Path) -> None:
    waiting = {migration.version for migration in pending(dsn, directory)}
    for migration in discover(directory):
        print(f"{'pending' if migration.version in waiting else 'applied'}  {migration.label}")


def _print_applied(applied: list[Migration]) -> None:
    for migration in applied:
        print(f"applied {migration.label}")
    if applied:
        print(f"{len(applied)} migration{'s' if len(applied) > 1 else ''} applied")
    else:
        print("database is up to date")
