"""Base backups with pg_basebackup, their retention, and getting the last WAL into the archive.

A backup directory holds ``base-<UTC time>/`` directories, each a plain-format copy of the
cluster (``pgdata/``, with the WAL it needs to be consistent) and ``backup.json`` saying where
the WAL archive is.  Together with the continuous WAL archive they restore to any moment after
the oldest kept base backup (see :mod:`jaan.db.restore`).
"""

from __future__ import annotations

import json
import logging
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import psycopg2

from jaan.db.embedded import find_binaries

log = logging.getLogger(__name__)

PREFIX = "base-"
METADATA = "backup.json"
_START_SEGMENT = re.compile(r"^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$", re.M)


class BackupError(RuntimeError):
    pass


def take_backup(dsn: str, target_dir: Path, source: dict[str, Any]) -> Path:
    """One base backup of the server at ``dsn`` into a new ``base-*`` directory of ``target_dir``.

    ``source`` is recorded beside it (what was backed up, where its WAL is archived).
    The directory appears under its final name only once the backup is complete.
    """
    target_dir.mkdir(parents=True, exist_ok=True)
    name = PREFIX + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    while (target_dir / name).exists():
        time.sleep(1)
        name = PREFIX + time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    partial = target_dir / f".{name}.partial"
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(mode=0o700)
    command = [
        str(find_binaries() / "pg_basebackup"),
        "--dbname",
        dsn,
        "--pgdata",
        str(partial / "pgdata"),
        "--format=plain",
        "--wal-method=stream",  # the WAL written during the copy comes with it: consistent on its own
        "--checkpoint=fast",
        "--label",
        f"jaan {name}",
        "--no-password",
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        shutil.rmtree(partial, ignore_errors=True)
        raise BackupError(f"pg_basebackup failed: {result.stderr.strip()}")
    metadata = {"taken_at": time.strftime("%Y-%m-%d %H:%M:%S+00", time.gmtime()), **source}
    (partial / METADATA).write_text(json.dumps(metadata, indent=2) + "\n")
    partial.rename(target_dir / name)
    return target_dir / name


def read_metadata(backup: Path) -> dict[str, Any]:
    try:
        metadata: dict[str, Any] = json.loads((backup / METADATA).read_text())
    except FileNotFoundError:
        raise BackupError(f"{backup} is not a base backup made by bin/backup (no {METADATA})") from None
    if not (backup / "pgdata" / "PG_VERSION").exists():
        raise BackupError(f"{backup} holds no complete base backup (no pgdata/PG_VERSION)")
    return metadata


def backups_in(directory: Path) -> list[Path]:
    """The complete base backups of a directory, oldest first."""
    if not directory.is_dir():
        return []
    return sorted(p for p in directory.iterdir() if p.name.startswith(PREFIX) and (p / METADATA).exists())


def start_segment(backup: Path) -> str:
    """The first WAL segment a base backup needs (from its backup_label)."""
    label = (backup / "pgdata" / "backup_label").read_text()
    found = _START_SEGMENT.search(label)
    if found is None:
        raise BackupError(f"no START WAL LOCATION in {backup}/pgdata/backup_label")
    return found.group(1)


def prune(directory: Path, keep: int, wal_archive: Path | None) -> list[Path]:
    """Keep the newest ``keep`` base backups, and only the archived WAL they need; return what went."""
    backups = backups_in(directory)
    if keep < 1 or len(backups) <= keep:
        return []
    gone, kept = backups[:-keep], backups[-keep:]
    for backup in gone:
        shutil.rmtree(backup)
        log.info("removed base backup %s", backup)
    if wal_archive is not None and wal_archive.is_dir():
        oldest_needed = start_segment(kept[0])
        result = subprocess.run(
            [str(find_binaries() / "pg_archivecleanup"), str(wal_archive), oldest_needed],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise BackupError(f"pg_archivecleanup failed: {result.stderr.strip()}")
        log.info("removed archived WAL older than %s from %s", oldest_needed, wal_archive)
    return gone


def archive_current_wal(dsn: str, timeout: float = 60.0) -> str | None:
    """Close the server's current WAL segment and wait until it is archived; its name (None: archiving off).

    What was committed since the last archived segment is then in the archive, so a restore
    sees it.  Raises BackupError when the archiver does not get there within ``timeout``.
    """
    conn = psycopg2.connect(dsn, connect_timeout=5)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('archive_mode') <> 'off'")
            row = cur.fetchone()
            if row is None or not row[0]:
                return None
            # At a segment boundary (nothing new to switch) this names the last full segment.
            cur.execute("SELECT pg_walfile_name(pg_switch_wal())")
            row = cur.fetchone()
            assert row is not None
            segment: str = row[0]
            deadline = time.monotonic() + timeout
            while True:
                cur.execute("SELECT last_archived_wal, last_failed_wal FROM pg_stat_archiver")
                archived, failed = cur.fetchone() or (None, None)
                if archived is not None and archived[:24] >= segment:
                    return segment
                if time.monotonic() > deadline:
                    raise BackupError(
                        f"WAL segment {segment} was not archived within {timeout:.0f}s (last failed: {failed})"
                    )
                time.sleep(0.1)
    finally:
        conn.close()
