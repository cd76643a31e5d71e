"""Point-in-time restore: a base backup plus archived WAL -> the embedded cluster of a new data directory.

The base backup is copied into the new data directory's cluster, which then starts once in
archive recovery (``recovery.signal``): it replays archived WAL up to the target time, or all
of it, and is promoted.  The recovery settings are given on that one start's command line
only, so the result is an ordinary cluster that ``bin/serve --data-dir NEW`` serves.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import shlex
import shutil
import time
from pathlib import Path

import psycopg2
import psycopg2.extensions

from jaan.db.backups import BackupError
from jaan.db.embedded import DATABASE, SUPERUSER, EmbeddedPostgres

log = logging.getLogger(__name__)

RECOVERY_TIMEOUT = 3600.0


def parse_target_time(text: str) -> str:
    """``YYYY-MM-DD HH:MM:SS+00`` (any offset) -> the same moment as PostgreSQL reads it, in UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupError(f"--to {text!r}: not a time such as '2026-11-29 18:04:05+00'") from None
    if moment.tzinfo is None:
        raise BackupError(f"--to {text!r}: give the offset, e.g. +00 for UTC")
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f+00")


def restore(
    backup: Path,
    cluster: EmbeddedPostgres,
    wal_archive: Path,
    target_time: str | None,
    user: str = SUPERUSER,
    database: str = DATABASE,
) -> None:
    """Build ``cluster`` from ``backup`` and the WAL in ``wal_archive``, recovered to ``target_time`` (None: all)."""
    refuse_existing(cluster)
    if not wal_archive.is_dir():
        raise BackupError(f"no WAL archive at {wal_archive} (give --wal-archive)")
    cluster._own(cluster.root, 0o755)
    shutil.copytree(backup / "pgdata", cluster.pgdata, symlinks=True)
    _prepare(cluster)
    recovery = {
        "restore_command": f"cp {shlex.quote(str(wal_archive))}/%f %p",
        "recovery_target_action": "promote",
        # No read-only connections during recovery: then nothing needs the primary's max_connections.
        "hot_standby": "off",
    }
    if target_time is not None:
        recovery["recovery_target_time"] = target_time
    cluster.options.update(recovery)
    cluster.launch()
    try:
        _wait_promoted(cluster, user)
        if (user, database) != (SUPERUSER, DATABASE):
            _adopt(cluster, user, database)
    finally:
        cluster.stop()
        for key in recovery:
            cluster.options.pop(key, None)


def refuse_existing(cluster: EmbeddedPostgres) -> None:
    """A restore builds a new data directory; it never overwrites a database."""
    if (cluster.pgdata / "PG_VERSION").exists() or cluster.running_pid() is not None:
        raise BackupError(f"{cluster.data_dir} already holds a database: restore into a new data directory")


def _prepare(cluster: EmbeddedPostgres) -> None:
    """Make the copy the server's own, and ready for archive recovery."""
    (cluster.pgdata / "recovery.signal").touch()
    for name in ("postmaster.pid", "postmaster.opts"):
        (cluster.pgdata / name).unlink(missing_ok=True)
    # A server whose configuration lived elsewhere (Debian's /etc) leaves none in the backup.
    conf = cluster.pgdata / "postgresql.conf"
    if not conf.exists():
        conf.write_text("# restored by bin/restore; settings are given on the command line\n")
    hba = cluster.pgdata / "pg_hba.conf"
    if not hba.exists():
        hba.write_text("local all all trust\nlocal replication all trust\n")
    cluster.pgdata.chmod(0o700)
    if cluster.account is not None:
        uid, gid = cluster.account.pw_uid, cluster.account.pw_gid
        for directory, dirs, files in os.walk(cluster.root):
            os.chown(directory, uid, gid)
            for name in [*dirs, *files]:
                os.lchown(os.path.join(directory, name), uid, gid)


def _wait_promoted(cluster: EmbeddedPostgres, user: str) -> None:
    """Wait until recovery has ended and the server accepts writes; fail with its log if it gives up."""
    dsn = psycopg2.extensions.make_dsn(host=str(cluster.socket_dir), port=5432, dbname="postgres", user=user)
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while True:
        process = cluster.process
        if process is None or process.poll() is not None:
            raise BackupError(f"recovery failed:\n{cluster.log_tail(30)}")
        try:
            conn = psycopg2.connect(dsn, connect_timeout=2)
        except psycopg2.OperationalError:
            pass
        else:
            try:
                with conn.cursor() as cur:
                    cur.execute("SELECT pg_is_in_recovery()")
                    row = cur.fetchone()
                    if row is not None and not row[0]:
                        return
            finally:
                conn.close()
        if time.monotonic() > deadline:
            raise BackupError(f"recovery did not finish within {RECOVERY_TIMEOUT:.0f}s:\n{cluster.log_tail(30)}")
        time.sleep(0.2)


def _adopt(cluster: EmbeddedPostgres, user: str, database: str) -> None:
    """A backup of another server: add our superuser and name its database ours, so bin/serve finds it."""
    dsn = psycopg2.extensions.make_dsn(host=str(cluster.socket_dir), port=5432, dbname="postgres", user=user)
    conn = psycopg2.connect(dsn)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (SUPERUSER,))
            if cur.fetchone() is None:
                cur.execute(f'CREATE ROLE "{SUPERUSER}" SUPERUSER LOGIN')
            cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
            if cur.fetchone() is None:
                cur.execute(f'ALTER DATABASE "{database}" RENAME TO "{DATABASE}"')
    finally:
        conn.close()
