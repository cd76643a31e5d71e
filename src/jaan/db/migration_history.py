"""The migrations edited after they landed, and the proof that lets a database migrated before the edit go on.

Migrations are append-only: ``tests/db/test_migration_history.py`` compares every file with the
version that first landed on main (from git history).  Commit 54168a1 broke that rule once, for the
five files below; a database migrated before it carries their first checksums.  ``bin/migrate``
accepts those checksums, applies the pending migrations (``0010_converge_edited_migrations.sql``
brings such a database to the edited files' schema), and records the edited checksums only once a
fingerprint of its schema, read from ``pg_catalog``, equals the fingerprint of a scratch database
migrated from today's files.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import psycopg2.extensions


@dataclass(frozen=True)
class EditedMigration:
    """A migration file changed after it landed: the checksum of each of its versions."""

    first_checksum: str  # the file as it first landed (what databases migrated before 54168a1 carry)
    edited_checksum: str  # the file as it is now, never to change again


# version -> checksums (SHA-256 of the file's bytes); the first ones are the files at 3824e18 (0002,
# 0003), 9d27ecc (0005) and 138231b (0007, 0008), the commits that added them.
EDITED_AFTER_LANDING: dict[int, EditedMigration] = {
    2: EditedMigration(
        first_checksum="0683b0fbf67c782c9d0222a4a3e4cba71e561af7254934ef511a1ebfe4927181",
        edited_checksum="972874d584c63cc092b3beabfba7c89e883910dc8d1cb3c802d8ac5b5c59d5a6",
    ),
    3: EditedMigration(
        first_checksum="06b6dbad619a13df33078c1e32608037f1b01c4bd7ac0fda521cdcf8589d0b67",
        edited_checksum="e61d1ce14a92689acde3a7f879e17beb80bddf49ea20853c57b3c95ebe02a854",
    ),
    5: EditedMigration(
        first_checksum="71cb862991ecd0e6d4b969302b28fda100515ff85d1f83a7faefd8e6f6a4af89",
        edited_checksum="441e05e236d2a873c81155f221de6c1be47ac4faccb7eb576eafd9d75575fed6",
    ),
    7: EditedMigration(
        first_checksum="ceaa0c2e2a823f62720a21261cf71b70c12de55ec50609b9704348aba3391c44",
        edited_checksum="a1fcafae5f6540c9af6a6a445b05326b1f86f960011d4ce6fd9c6dd9a5da73c6",
    ),
    8: EditedMigration(
        first_checksum="0fabfa066c53fa8a25abc3a84752c75cb0b105eeb91b64e246b6e49527df11c6",
        edited_checksum="e758ab525b0ed45578977b3e9a0985b12c1b0062cc5d185bb0fd6f472b180876",
    ),
}


def carries_first_version(version: int, recorded_checksum: str, file_checksum: str) -> bool:
    """Whether a database recorded the first version of a file that was edited after it landed."""
    edited = EDITED_AFTER_LANDING.get(version)
    return edited is not None and recorded_checksum == edited.first_checksum and file_checksum == edited.edited_checksum


# Every query yields one line per schema object of the current schema, in a form that does not
# depend on the database's name or on object ids; extension members (pg_trgm's functions) are left out.
_NOT_EXTENSION_MEMBER = "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.objid = {oid} AND d.deptype = 'e')"
_FINGERPRINT_QUERIES = [
    # tables, views, sequences and their storage options
    f"""SELECT concat_ws(' ', 'relation', c.relkind::text, c.relname::text, array_to_string(c.reloptions, ','))
        FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')
          AND {_NOT_EXTENSION_MEMBER.format(oid="c.oid")}""",
    """SELECT concat_ws(' ', 'column', c.relname || '.' || a.attname, format_type(a.atttypid, a.atttypmod),
            'notnull=' || a.attnotnull::text, 'identity=' || a.attidentity::text,
            'generated=' || a.attgenerated::text, 'default=' || coalesce(pg_get_expr(d.adbin, d.adrelid), ''))
        FROM pg_attribute a
        JOIN pg_class c ON c.oid = a.attrelid
        LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
          AND a.attnum > 0 AND NOT a.attisdropped""",
    """SELECT concat_ws(' ', 'constraint', c.relname::text, k.conname::text, pg_get_constraintdef(k.oid))
        FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid
        WHERE k.connamespace = current_schema()::regnamespace""",
    """SELECT concat_ws(' ', 'index', pg_get_indexdef(i.indexrelid), array_to_string(c.reloptions, ','))
        FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE c.relnamespace = current_schema()::regnamespace""",
    """SELECT concat_ws(' ', 'trigger', pg_get_triggerdef(t.oid), 'enabled=' || t.tgenabled::text)
        FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE c.relnamespace = current_schema()::regnamespace AND NOT t.tgisinternal""",
    f"""SELECT concat_ws(' ', 'function', p.proname || '(' || pg_get_function_identity_arguments(p.oid) || ')',
            md5(pg_get_functiondef(p.oid)))
        FROM pg_proc p
        WHERE p.pronamespace = current_schema()::regnamespace AND p.prokind IN ('f', 'p')
          AND {_NOT_EXTENSION_MEMBER.format(oid="p.oid")}""",
    f"""SELECT concat_ws(' ', 'type', t.typname::text, t.typtype::text,
            (SELECT string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) FROM pg_enum e WHERE e.enumtypid = t.oid),
            CASE WHEN t.typbasetype <> 0 THEN format_type(t.typbasetype, t.typtypmod) END)
        FROM pg_type t
        WHERE t.typnamespace = current_schema()::regnamespace AND t.typtype IN ('e', 'd')
          AND {_NOT_EXTENSION_MEMBER.format(oid="t.oid")}""",
    """SELECT concat_ws(' ', 'view', c.relname::text, md5(pg_get_viewdef(c.oid)))
        FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('v', 'm')""",
    "SELECT 'extension ' || extname FROM pg_extension",
]


def schema_fingerprint(dsn: str) -> list[str]:
    """The schema of the database at `dsn` as sorted lines: equal lines, equal schema."""
    lines: list[str] = []
    with closing(psycopg2.connect(dsn, application_name="jaan migrate")) as conn, conn, conn.cursor() as cur:
        for query in _FINGERPRINT_QUERIES:
            cur.execute(query)
            lines.extend(row[0] for row in cur.fetchall())
    return sorted(lines)


def schema_differences(dsn: str, directory: Path, migrate: Callable[[str, Path], Any]) -> list[str]:
    """How the schema at `dsn` differs from a scratch database migrated from `directory` ([] = none).

    The scratch database is created on the same server (the role needs CREATEDB, as the embedded
    cluster's has) and dropped afterwards.
    """
    scratch = f"jaan_schema_proof_{uuid.uuid4().hex[:12]}"
    scratch_dsn = str(psycopg2.extensions.make_dsn(dsn, dbname=scratch))
    with closing(psycopg2.connect(dsn, application_name="jaan migrate")) as admin:
        admin.autocommit = True
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{scratch}"')
        try:
            migrate(scratch_dsn, directory)
            expected = schema_fingerprint(scratch_dsn)
        finally:
            with admin.cursor() as cur:
                cur.execute(f'DROP DATABASE IF EXISTS "{scratch}"')
    actual = schema_fingerprint(dsn)
    missing = sorted(set(expected) - set(actual))
    extra = sorted(set(actual) - set(expected))
    return [f"missing: {line}" for line in missing] + [f"unexpected: {line}" for line in extra]
