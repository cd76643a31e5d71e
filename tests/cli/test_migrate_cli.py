"""``bin/migrate`` as a real process against a real PostgreSQL, alone and several at once."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from jaan.db.migrations import discover

ROOT = Path(__file__).resolve().parents[2]
BIN_MIGRATE = ROOT / "bin" / "migrate"


def run_migrate(dsn: str, *args: str | Path, direct: bool = False) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        migrate_command(*args, direct=direct), env=env_for(dsn), capture_output=True, text=True, timeout=60
    )


def migrate_command(*args: str | Path, direct: bool = False) -> list[str]:
    prefix = [str(BIN_MIGRATE)] if direct else [sys.executable, str(BIN_MIGRATE)]
    return [*prefix, *map(str, args)]


def env_for(dsn: str) -> dict[str, str]:
    return {**os.environ, "DATABASE_URL": dsn}


def query(dsn: str, sql: str) -> list[tuple[Any, ...]]:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql)
        return list(cur.fetchall())


def test_bin_migrate_applies_the_migrations_then_reports_the_database_up_to_date(empty_database: str):
    first = run_migrate(empty_database)
    assert first.returncode == 0, first.stderr
    for migration in discover():
        assert f"applied {migration.label}" in first.stdout

    second = run_migrate(empty_database)
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "database is up to date"


def test_bin_migrate_runs_directly_from_the_checkout(empty_database: str):
    result = run_migrate(empty_database, direct=True)
    assert result.returncode == 0, result.stderr
    assert "applied 0001_settings" in result.stdout


def test_bin_migrate_list_shows_applied_and_pending_and_changes_nothing(empty_database: str, tmp_path: Path):
    (tmp_path / "0001_widgets.sql").write_text("CREATE TABLE widgets (id int);")
    assert run_migrate(empty_database, "--migrations-dir", tmp_path).returncode == 0
    (tmp_path / "0002_gadgets.sql").write_text("CREATE TABLE gadgets (id int);")

    listed = run_migrate(empty_database, "--migrations-dir", tmp_path, "--list")
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split("\n")[:2] == ["applied  0001_widgets", "pending  0002_gadgets"]
    assert query(empty_database, "SELECT to_regclass('gadgets')") == [(None,)]


def test_bin_migrate_reports_a_failing_migration_and_exits_1(empty_database: str, tmp_path: Path):
    (tmp_path / "0001_broken.sql").write_text("SELECT * FROM no_such_table;")
    result = run_migrate(empty_database, "--migrations-dir", tmp_path)
    assert result.returncode == 1
    assert "migrate: 0001_broken.sql failed" in result.stderr
    assert "no_such_table" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("with_sleep", [False, True], ids=["repository", "overlapping"])
def test_concurrent_runs_apply_each_file_exactly_once(empty_database: str, tmp_path: Path, with_sleep: bool):
    directory = tmp_path / "migrations"
    directory.mkdir()
    for migration in discover():
        (directory / migration.path.name).write_bytes(migration.path.read_bytes())
    if with_sleep:
        # A slow, non-idempotent pair: a second run of either would fail or double the count.
        count = len(list(directory.iterdir()))
        (directory / f"{count + 1:04d}_slow.sql").write_text(
            "CREATE TABLE runs (at timestamptz DEFAULT now());\nSELECT pg_sleep(1);"
        )
        (directory / f"{count + 2:04d}_count.sql").write_text("INSERT INTO runs DEFAULT VALUES;")

    processes = [
        subprocess.Popen(
            migrate_command("--migrations-dir", directory),
            env=env_for(empty_database),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]

    assert [process.returncode for process in processes] == [0] * 4, [err for _, err in outputs]
    stdout = "".join(out for out, _ in outputs)
    for migration in discover(directory):
        assert stdout.count(f"applied {migration.label}\n") == 1
    assert stdout.count("database is up to date") == 3
    versions = query(empty_database, "SELECT version FROM schema_migrations ORDER BY version")
    assert versions == [(m.version,) for m in discover(directory)]
    if with_sleep:
        assert query(empty_database, "SELECT count(*) FROM runs") == [(1,)]
        assert any("waiting for it to finish" in err for _, err in outputs), "the runs did not overlap"
