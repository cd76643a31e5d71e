"""Migrations are append-only: each file stays as it first landed on main, read from git history.

The five files that commit 54168a1 edited after they landed are the one exception; a database
migrated from their first versions is brought forward by ``bin/migrate``, which records the edited
checksums only after proving its schema the same as a freshly migrated database's.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from contextlib import closing
from functools import cache
from pathlib import Path

import psycopg2
import pytest

from jaan.db.migration_history import EDITED_AFTER_LANDING, schema_differences, schema_fingerprint
from jaan.db.migrations import MIGRATIONS_DIR, MigrationError, apply_migrations, discover

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str) -> bytes:
    return subprocess.run(["git", "-C", str(ROOT), *args], check=True, capture_output=True, timeout=60).stdout


@cache
def history_ref() -> str:
    """The shared branch when this checkout has it (a worktree, CI's clone of main), else HEAD."""
    assert shutil.which("git"), "git is needed to check that migrations are append-only"
    assert git("rev-parse", "--is-shallow-repository").strip() == b"false", (
        "a shallow clone has no history to check migrations against: fetch with --unshallow"
    )
    for ref in ("main", "origin/main"):
        found = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", "-q", ref], capture_output=True)
        if found.returncode == 0:
            return ref
    return "HEAD"


def first_landed(path: Path) -> bytes | None:
    """The file as the commit that first added it to the shared branch had it (None: not landed yet)."""
    relative = path.relative_to(ROOT).as_posix()
    added = git("log", history_ref(), "--diff-filter=A", "--format=%H", "--", relative).split()
    if not added:
        return None
    return git("show", f"{added[-1].decode()}:{relative}")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("migration", discover(), ids=lambda m: m.label)
def test_a_migration_is_never_changed_after_it_landed(migration):
    landed = first_landed(migration.path)
    if landed is None:
        return  # not on the shared branch yet: its author may still change or renumber it
    edited = EDITED_AFTER_LANDING.get(migration.version)
    if edited is None:
        assert migration.checksum == sha256(landed), (
            f"{migration.path.name} differs from the version that landed on main: a migration on main is "
            f"never edited, renamed or removed; restore it and fix forward with a new file"
        )
    else:
        assert sha256(landed) == edited.first_checksum, f"{migration.path.name}: its first version is listed wrongly"
        assert migration.checksum == edited.edited_checksum, (
            f"{migration.path.name} was edited once after it landed (54168a1) and must not change again"
        )


def test_the_files_edited_after_they_landed_are_exactly_those_listed():
    edited_since = {
        m.version for m in discover() if (landed := first_landed(m.path)) is not None and sha256(landed) != m.checksum
    }
    assert edited_since == set(EDITED_AFTER_LANDING) == {2, 3, 5, 7, 8}


# -- a database migrated before 54168a1 ------------------------------------------------------------


@pytest.fixture
def first_versions_dir(tmp_path: Path) -> Path:
    """The migrations up to 0009 as they first landed: what a database migrated before 54168a1 ran."""
    directory = tmp_path / "first"
    directory.mkdir()
    for migration in discover():
        if migration.version > 9:
            break
        landed = first_landed(migration.path)
        assert landed is not None
        (directory / migration.path.name).write_bytes(landed)
    return directory


def checksums(dsn: str) -> dict[int, str]:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute("SELECT version, checksum FROM schema_migrations")
        return dict(cur.fetchall())


def execute(dsn: str, sql: str) -> None:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql)


def run_bin_migrate(dsn: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "migrate")],
        env={**os.environ, "DATABASE_URL": dsn},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_bin_migrate_brings_a_database_migrated_before_the_edit_to_todays_schema(
    empty_database: str, first_versions_dir: Path
):
    apply_migrations(empty_database, first_versions_dir)
    old = checksums(empty_database)
    assert {v: old[v] for v in EDITED_AFTER_LANDING} == {v: e.first_checksum for v, e in EDITED_AFTER_LANDING.items()}
    assert schema_differences(empty_database, MIGRATIONS_DIR, apply_migrations) != []

    result = run_bin_migrate(empty_database)

    assert result.returncode == 0, result.stderr
    assert "recorded the edited checksums of 0002_accounts, 0003_catalogue" in result.stderr
    assert checksums(empty_database) == {m.version: m.checksum for m in discover()}
    assert schema_differences(empty_database, MIGRATIONS_DIR, apply_migrations) == []  # a fresh database's
    again = run_bin_migrate(empty_database)
    assert (again.returncode, again.stdout.strip()) == (0, "database is up to date"), again.stderr


def test_a_database_whose_schema_still_differs_keeps_its_old_checksums_and_is_refused(
    empty_database: str, first_versions_dir: Path
):
    apply_migrations(empty_database, first_versions_dir)
    execute(empty_database, "CREATE INDEX hand_made_idx ON orders (customer_email)")

    with pytest.raises(MigrationError, match=r"(?s)schema differs.*unexpected: index CREATE INDEX hand_made_idx"):
        apply_migrations(empty_database)

    recorded = checksums(empty_database)
    assert {v: recorded[v] for v in EDITED_AFTER_LANDING} == {
        v: e.first_checksum for v, e in EDITED_AFTER_LANDING.items()
    }
    result = run_bin_migrate(empty_database)
    assert result.returncode == 1
    assert "hand_made_idx" in result.stderr and "Traceback" not in result.stderr


def test_a_first_version_checksum_of_a_file_never_edited_is_still_refused(empty_database: str):
    apply_migrations(empty_database)
    execute(
        empty_database,
        f"UPDATE schema_migrations SET checksum = '{EDITED_AFTER_LANDING[2].first_checksum}' WHERE version = 4",
    )
    with pytest.raises(MigrationError, match=r"0004_contact_and_uploads\.sql was edited"):
        apply_migrations(empty_database)


def test_the_forward_migration_changes_nothing_on_a_database_migrated_from_todays_files(
    empty_database: str, tmp_path: Path
):
    for migration in discover()[:9]:
        shutil.copy(migration.path, tmp_path / migration.path.name)
    apply_migrations(empty_database, tmp_path)
    before = schema_fingerprint(empty_database)
    converge = discover()[9]
    assert converge.label == "0010_converge_edited_migrations"
    shutil.copy(converge.path, tmp_path / converge.path.name)

    assert [m.label for m in apply_migrations(empty_database, tmp_path)] == [converge.label]
    assert schema_fingerprint(empty_database) == before
