"""``bin/backup``: a base backup (pg_basebackup) of the database, and retention of old ones."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import psycopg2

from jaan.db.backups import BackupError, prune, take_backup
from jaan.db.embedded import EmbeddedPostgres, EmbeddedPostgresError
from jaan.db.locate import locate_database
from jaan.settings import Settings, redact_url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="backup",
        description="Take a base backup of the database (see the README: backup and restore).",
    )
    parser.add_argument("--data-dir", type=Path, metavar="D", help="data directory (default: JAAN_DATA_DIR, else var/)")
    parser.add_argument(
        "--to", type=Path, metavar="DIR", help="where to put it (default: JAAN_BACKUP_DIR, else D/backups)"
    )
    parser.add_argument("--keep", type=int, metavar="N", help="then keep only the newest N base backups and their WAL")
    parser.add_argument(
        "--wal-archive",
        type=Path,
        metavar="DIR",
        help="with DATABASE_URL: where that server's archive_command puts WAL (recorded for bin/restore)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    if args.keep is not None and args.keep < 1:
        parser.error("--keep must be at least 1")
    try:
        data_dir = args.data_dir.expanduser().resolve() if args.data_dir else None
        settings = Settings.from_env(data_dir=data_dir)
        target = args.to.expanduser().resolve() if args.to else settings.backups_dir
        with locate_database(settings, direct=True) as database:
            if database.kind == "external":
                wal_archive = args.wal_archive.resolve() if args.wal_archive else None
                source: dict[str, str | None] = {"kind": "external", "server": redact_url(database.dsn)}
            else:
                wal_archive = EmbeddedPostgres(settings.data_dir, backups_dir=settings.backups_dir).wal_archive
                source = {"kind": "embedded", "data_dir": str(settings.data_dir), "dsn": database.dsn}
            source["wal_archive"] = str(wal_archive) if wal_archive else None
            backup = take_backup(database.dsn, target, source)
        print(f"base backup {backup}")
        if wal_archive is None:
            print("backup: no WAL archive known: this backup restores only to its own end", file=sys.stderr)
        if args.keep:
            for gone in prune(target, args.keep, wal_archive):
                print(f"removed {gone}")
    except (BackupError, EmbeddedPostgresError, psycopg2.Error, OSError, ValueError) as exc:
        print(f"backup: {str(exc).strip()}", file=sys.stderr)
        return 1
    return 0
