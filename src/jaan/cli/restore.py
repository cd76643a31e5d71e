"""``bin/restore``: a new data directory from a base backup and the WAL archive, up to a moment."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

import psycopg2
import psycopg2.extensions

from jaan.db.backups import BackupError, archive_current_wal, read_metadata
from jaan.db.embedded import DATABASE, SUPERUSER, EmbeddedPostgres, EmbeddedPostgresError
from jaan.db.restore import parse_target_time, refuse_existing, restore
from jaan.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="restore",
        description="Build a new data directory from a base backup and archived WAL (point-in-time restore).",
    )
    parser.add_argument("--from", dest="backup", type=Path, required=True, metavar="BACKUP_DIR", help="a base-* dir")
    parser.add_argument("--data-dir", type=Path, required=True, metavar="NEW", help="the new data directory")
    when = parser.add_mutually_exclusive_group()
    when.add_argument("--to", metavar="'YYYY-MM-DD HH:MM:SS+00'", help="the moment to restore to")
    when.add_argument("--latest", action="store_true", help="everything archived (the default)")
    parser.add_argument("--wal-archive", type=Path, metavar="DIR", help="the WAL archive (default: the backup's)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    try:
        target_time = parse_target_time(args.to) if args.to else None
        backup = args.backup.expanduser().resolve()
        metadata = read_metadata(backup)
        archive = args.wal_archive or (Path(metadata["wal_archive"]) if metadata.get("wal_archive") else None)
        if archive is None:
            raise BackupError("the backup names no WAL archive: give --wal-archive")
        settings = Settings.from_env(data_dir=args.data_dir.expanduser().resolve())
        cluster = EmbeddedPostgres(
            settings.data_dir, backups_dir=settings.backups_dir, archive_timeout=settings.archive_timeout
        )
        refuse_existing(cluster)
        _archive_what_the_source_has(metadata)
        user, database = _names(metadata)
        restore(backup, cluster, archive.resolve(), target_time, user, database)
    except (BackupError, EmbeddedPostgresError, psycopg2.Error, OSError) as exc:
        print(f"restore: {str(exc).strip()}", file=sys.stderr)
        return 1
    print(f"restored {backup.name} to {args.to or 'the end of the archived WAL'} into {settings.data_dir}")
    print(f"serve it with: bin/serve --data-dir {settings.data_dir}")
    return 0


def _archive_what_the_source_has(metadata: dict[str, str]) -> None:
    """When the backed-up server still runs, have it archive its current WAL first (nothing is left out)."""
    dsn = None
    if metadata.get("kind") == "embedded":
        if EmbeddedPostgres(Path(metadata["data_dir"])).running_pid() is not None:
            dsn = metadata["dsn"]
    elif os.environ.get("DATABASE_URL"):
        dsn = os.environ["DATABASE_URL"]
    if dsn is None:
        print("restore: the source server is not running: restoring what its archive holds", file=sys.stderr)
        return
    try:
        segment = archive_current_wal(dsn)
    except (psycopg2.Error, BackupError) as exc:
        print(f"restore: could not archive the source's current WAL ({str(exc).strip()}); going on", file=sys.stderr)
        return
    if segment:
        print(f"the source archived its WAL up to {segment}", file=sys.stderr)


def _names(metadata: dict[str, str]) -> tuple[str, str]:
    """The superuser and database of the backed-up server (ours, for an embedded one)."""
    if metadata.get("kind") != "external" or not os.environ.get("DATABASE_URL"):
        return SUPERUSER, DATABASE
    params = psycopg2.extensions.parse_dsn(os.environ["DATABASE_URL"])
    return params.get("user", SUPERUSER), params.get("dbname", DATABASE)
