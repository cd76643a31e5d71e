"""The migrations runner against a real PostgreSQL: each file once, in order, never edited."""

from __future__ import annotations

import hashlib
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from jaan.db.migrations import (
    MIGRATIONS_DIR,
    MigrationError,
    apply_migrations,
    discover,
    is_current,
    pending,
)


def write(directory: Path, name: str, sql: str) -> Path:
    path = directory / name
    path.write_text(sql)
    return path


def query(dsn: str, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


def table_exists(dsn: str, name: str) -> bool:
    return bool(query(dsn, "SELECT to_regclass(%s) IS NOT NULL", (name,))[0][0])


@pytest.fixture
def migrations_dir(tmp_path: Path) -> Path:
    """Two harmless migrations of the test's own."""
    directory = tmp_path / "migrations"
    directory.mkdir()
    write(directory, "0001_widgets.sql", "CREATE TABLE widgets (id int PRIMARY KEY);")
    write(directory, "0002_gadgets.sql", "CREATE TABLE gadgets (id int PRIMARY KEY);")
    return directory


# -- discover -----------------------------------------------------------------------------------


def test_the_repository_migrations_are_numbered_without_gaps_or_duplicates():
    migrations = discover()
    assert migrations, f"no migrations in {MIGRATIONS_DIR}"
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))
    assert migrations[0].name == "settings"


def test_discover_orders_files_and_checksums_their_bytes(migrations_dir: Path):
    migrations = discover(migrations_dir)
    assert [(m.version, m.name) for m in migrations] == [(1, "widgets"), (2, "gadgets")]
    first = migrations[0]
    assert first.sql == "CREATE TABLE widgets (id int PRIMARY KEY);"
    assert first.checksum == hashlib.sha256(first.path.read_bytes()).hexdigest()


def test_a_gap_in_the_numbers_is_refused(migrations_dir: Path):
    write(migrations_dir, "0004_late.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"0004_late\.sql"):
        discover(migrations_dir)


def test_a_duplicate_number_is_refused(migrations_dir: Path):
    write(migrations_dir, "0002_other.sql", "SELECT 1;")
    with pytest.raises(MigrationError, match=r"0002_other\.sql: .* 0002_gadgets\.sql"):
        discover(migrations_dir)


@pytest.mark.parametrize(
    "name", ["3_short.sql", "0003-dash.sql", "0003_Upper.sql", "0003_.sql", "00003_x.sql", "0003_x.SQL.sql"]
)
def test_a_malformed_file_name_is_refused(migrations_dir: Path, name: str):
    write(migrations_dir, name, "SELECT 1;")
    with pytest.raises(MigrationError, match=name.replace(".", r"\.")):
        discover(migrations_dir)


# -- apply --------------------------------------------------------------------------------------


def test_applying_twice_applies_nothing_the_second_time(empty_database: str):
    first = apply_migrations(empty_database)
    assert [m.version for m in first] == [m.version for m in discover()]
    assert apply_migrations(empty_database) == []
    rows = query(empty_database, "SELECT version, name, checksum FROM schema_migrations ORDER BY version")
    assert rows == [(m.version, m.name, m.checksum) for m in discover()]


def test_the_settings_table_exists_with_its_seeded_rows(empty_database: str):
    apply_migrations(empty_database)
    rows = query(
        empty_database,
        "SELECT key, value, value_type, category, is_public FROM settings ORDER BY key",
    )
    assert rows == [
        ("allow_negative_stock", "false", "boolean", "inventory", False),
        ("allow_po_over_receipt", "false", "boolean", "purchasing", False),
        ("default_shipping_fee", "10.00", "number", "financial", True),
        ("free_shipping_threshold", "100.00", "number", "financial", True),
        ("invoice_payment_terms_days", "30", "number", "invoices", False),
        ("purchase_tax_rate", "0.05", "number", "purchasing", False),
        ("store_timezone", "UTC", "text", "general", False),
        ("tax_rate", "0.08", "number", "financial", True),
    ]


def test_updating_a_setting_moves_its_updated_at(empty_database: str):
    apply_migrations(empty_database)
    [(before,)] = query(empty_database, "SELECT updated_at FROM settings WHERE key = 'tax_rate'")
    [(after,)] = query(empty_database, "UPDATE settings SET value = '0.07' WHERE key = 'tax_rate' RETURNING updated_at")
    assert after > before


@pytest.mark.parametrize(("key", "value"), [("tax_rate", "NaN"), ("tax_rate", "abc"), ("allow_negative_stock", "yes")])
def test_a_setting_value_that_does_not_parse_as_its_type_is_refused(empty_database: str, key: str, value: str):
    apply_migrations(empty_database)
    with pytest.raises(psycopg2.errors.CheckViolation):
        query(empty_database, "UPDATE settings SET value = %s WHERE key = %s RETURNING id", (value, key))


def test_an_applied_file_edited_afterwards_is_refused(empty_database: str, migrations_dir: Path):
    apply_migrations(empty_database, migrations_dir)
    write(migrations_dir, "0002_gadgets.sql", "CREATE TABLE gadgets (id bigint PRIMARY KEY);")
    write(migrations_dir, "0003_gizmos.sql", "CREATE TABLE gizmos (id int PRIMARY KEY);")
    with pytest.raises(MigrationError, match=r"0002_gadgets\.sql was edited"):
        apply_migrations(empty_database, migrations_dir)
    assert not table_exists(empty_database, "gizmos")


def test_a_version_in_the_database_without_a_file_is_refused(empty_database: str, migrations_dir: Path):
    apply_migrations(empty_database, migrations_dir)
    (migrations_dir / "0002_gadgets.sql").unlink()
    with pytest.raises(MigrationError, match="0002_gadgets"):
        apply_migrations(empty_database, migrations_dir)


def test_a_failing_migration_rolls_back_entirely_and_earlier_ones_stay(empty_database: str, migrations_dir: Path):
    write(
        migrations_dir,
        "0003_broken.sql",
        "CREATE TABLE half_done (id int);\nINSERT INTO no_such_table VALUES (1);",
    )
    with pytest.raises(MigrationError, match=r"0003_broken\.sql.*no_such_table"):
        apply_migrations(empty_database, migrations_dir)
    assert table_exists(empty_database, "widgets")
    assert table_exists(empty_database, "gadgets")
    assert not table_exists(empty_database, "half_done")
    assert query(empty_database, "SELECT version FROM schema_migrations ORDER BY version") == [(1,), (2,)]


def test_a_fixed_migration_applies_after_a_failure(empty_database: str, migrations_dir: Path):
    write(migrations_dir, "0003_broken.sql", "SELECT 1/0;")
    with pytest.raises(MigrationError):
        apply_migrations(empty_database, migrations_dir)
    write(migrations_dir, "0003_broken.sql", "SELECT 1;")
    assert [m.version for m in apply_migrations(empty_database, migrations_dir)] == [3]


# -- pending / is_current -------------------------------------------------------------------------


def test_a_database_never_migrated_has_everything_pending(empty_database: str, migrations_dir: Path):
    assert [m.name for m in pending(empty_database, migrations_dir)] == ["widgets", "gadgets"]
    assert is_current(empty_database, migrations_dir) is False
    assert not table_exists(empty_database, "schema_migrations")


def test_is_current_once_every_file_is_applied(empty_database: str, migrations_dir: Path):
    apply_migrations(empty_database, migrations_dir)
    assert is_current(empty_database, migrations_dir)
    write(migrations_dir, "0003_gizmos.sql", "CREATE TABLE gizmos (id int PRIMARY KEY);")
    assert [m.name for m in pending(empty_database, migrations_dir)] == ["gizmos"]
    assert not is_current(empty_database, migrations_dir)
