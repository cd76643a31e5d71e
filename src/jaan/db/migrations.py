"""Versioned schema migrations: numbered SQL files in ``migrations/``, each applied exactly once.

Synchronous psycopg2 on purpose: migrations run at start-up and from ``bin/migrate``, before or
outside any event loop.  A session-level advisory lock serialises every process (and host) that
migrates the same database, so several starting at once apply each file once: the first applies,
the others wait and then find nothing to do.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from jaan.db.migration_history import carries_first_version, schema_differences

log = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).resolve().parents[3] / "migrations"

# "jaanmigr" in ASCII: a fixed key every copy of this project agrees on (fits a signed bigint).
LOCK_KEY = 0x6A61616E6D696772

_FILE_NAME = re.compile(r"(?P<version>[0-9]{4})_(?P<name>[a-z][a-z0-9]*(?:_[a-z0-9]+)*)\.sql")

_CREATE_TABLE = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version integer PRIMARY KEY,
    name text NOT NULL,
    checksum text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they are; the message names the file at fault."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path
    sql: str
    checksum: str

    @property
    def label(self) -> str:
        """``0001_settings``: how logs and messages name the migration."""
        return f"{self.version:04d}_{self.name}"


def discover(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migration files of `directory` in order.

    Every ``*.sql`` file must be named ``NNNN_snake_name.sql`` and the numbers must run 1, 2, 3, ...
    without gaps or duplicates; otherwise :class:`MigrationError` names the offending file.
    """
    migrations: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILE_NAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(f"{path.name}: a migration file must be named NNNN_snake_case_name.sql")
        version = int(match["version"])
        if version in migrations:
            raise MigrationError(f"{path.name}: number {version:04d} is also used by {migrations[version].path.name}")
        data = path.read_bytes()
        migrations[version] = Migration(
            version=version,
            name=match["name"],
            path=path,
            sql=data.decode("utf-8"),
            checksum=hashlib.sha256(data).hexdigest(),
        )
    ordered = [migrations[version] for version in sorted(migrations)]
    for expected, migration in enumerate(ordered, start=1):
        if migration.version != expected:
            raise MigrationError(f"{migration.path.name}: expected number {expected:04d} next (no gaps allowed)")
    return ordered


def apply_migrations(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the pending migrations of `directory` to the database at `dsn`; return those applied.

    Each file runs in its own transaction together with its ``schema_migrations`` row, so a failing
    file leaves no trace and the ones before it stay applied.  Refuses to run when an applied file
    was edited since, or when the database has a migration this checkout lacks.  The one exception:
    a database that carries the first version of a file edited after it landed
    (:data:`~jaan.db.migration_history.EDITED_AFTER_LANDING`) is migrated, then its schema is
    compared with a fresh database's, and only when they are the same are the edited checksums
    recorded (:func:`_repair_checksums`).
    """
    migrations = discover(directory)
    applied_now: list[Migration] = []
    with _connect(dsn) as conn:
        _lock_migrations(conn)
        with conn, conn.cursor() as cur:
            cur.execute(_CREATE_TABLE)
        recorded = _recorded(conn)
        first_versions = _check_history(migrations, recorded)
        for migration in migrations:
            if migration.version in recorded:
                continue
            log.info("applying migration %s", migration.label)
            _apply(conn, migration)
            applied_now.append(migration)
        if first_versions:
            _repair_checksums(conn, dsn, directory, first_versions)
    return applied_now


def pending(dsn: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """The migrations of `directory` not yet applied (all of them on a database never migrated)."""
    migrations = discover(directory)
    with _connect(dsn) as conn:
        recorded = _recorded(conn)
    return [migration for migration in migrations if migration.version not in recorded]


def is_current(dsn: str, directory: Path = MIGRATIONS_DIR) -> bool:
    """Whether every migration of `directory` is applied (False on a database never migrated)."""
    return not pending(dsn, directory)


@contextmanager
def _connect(dsn: str) -> Iterator[Any]:
    # closing() rather than `with conn:`: psycopg2's own context manager ends a transaction
    # but leaves the connection open.
    with closing(psycopg2.connect(dsn, application_name="jaan migrate")) as conn:
        yield conn


def _lock_migrations(conn: Any) -> None:
    """Take the project's advisory lock, waiting for whoever holds it.

    Session-level, so it outlives the transactions below; closing the connection releases it,
    also when this process dies half-way.
    """
    with conn.cursor() as cur:
        cur.execute("SELECT pg_try_advisory_lock(%s)", (LOCK_KEY,))
        if not cur.fetchone()[0]:
            log.info("another process is applying migrations; waiting for it to finish")
            cur.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
    conn.commit()


def _recorded(conn: Any) -> dict[int, tuple[str, str]]:
    """version -> (name, checksum) of the applied migrations; empty when none ever were."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('schema_migrations') IS NOT NULL")
        if not cur.fetchone()[0]:
            return {}
        cur.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY version")
        return {version: (name, checksum) for version, name, checksum in cur.fetchall()}


def _check_history(migrations: list[Migration], recorded: dict[int, tuple[str, str]]) -> list[Migration]:
    """Refuse a history this checkout cannot continue; return the applied files whose first
    version (edited after it landed) the database carries."""
    by_version = {migration.version: migration for migration in migrations}
    first_versions: list[Migration] = []
    for version, (name, checksum) in sorted(recorded.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name} applied, but there is no file "
                f"{version:04d}_*.sql here: is this checkout older than the database?"
            )
        if carries_first_version(version, checksum, migration.checksum):
            first_versions.append(migration)
        elif migration.checksum != checksum:
            raise MigrationError(
                f"{migration.path.name} was edited after it was applied (checksum differs); "
                f"an applied migration must not change: add a new migration instead"
            )
    return first_versions


def _repair_checksums(conn: Any, dsn: str, directory: Path, first_versions: list[Migration]) -> None:
    """Record the edited files' checksums, once the database's schema is proven the same as a fresh one's.

    The pending migrations have run by now (among them the one that brings such a database to the
    edited files' schema). Should the schemas still differ (a hand-made change, say), nothing is
    recorded and every later run refuses again, naming the differences.
    """
    labels = ", ".join(migration.label for migration in first_versions)
    log.info("the database carries the first versions of %s (edited after they landed); comparing schemas", labels)
    differences = schema_differences(dsn, directory, apply_migrations)
    if differences:
        shown = "\n  ".join(differences[:20])
        more = f"\n  ... and {len(differences) - 20} more" if len(differences) > 20 else ""
        raise MigrationError(
            f"the database carries the first versions of {labels}, which were edited after they landed, "
            f"and its schema differs from a freshly migrated database's:\n  {shown}{more}\n"
            f"bring it to the schema of today's migrations by hand (or restore a backup), then run bin/migrate again"
        )
    with conn, conn.cursor() as cur:
        for migration in first_versions:
            cur.execute(
                "UPDATE schema_migrations SET checksum = %s WHERE version = %s",
                (migration.checksum, migration.version),
            )
    log.warning("schema proven the same as a fresh database's: recorded the edited checksums of %s", labels)


def _apply(conn: Any, migration: Migration) -> None:
    try:
        with conn, conn.cursor() as cur:
            cur.execute(migration.sql)
            cur.execute(
                "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                (migration.version, migration.name, migration.checksum),
            )
    except psycopg2.Error as exc:
        raise MigrationError(f"{migration.path.name} failed and was rolled back: {exc}".rstrip()) from exc
