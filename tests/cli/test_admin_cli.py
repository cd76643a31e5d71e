"""``bin/admin create`` as a real process against a fresh database, the password on stdin."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

import psycopg2
import pytest

from jaan.cli import admin
from jaan.db.migrations import apply_migrations
from jaan.settings import Settings
from jaan.shop.accounts.passwords import hash_password_sync, verify_password_sync
from jaan.shop.accounts.sessions import hash_token, new_token

ROOT = Path(__file__).resolve().parents[2]
BIN_ADMIN = ROOT / "bin" / "admin"
PASSWORD = "an admin's long password"


def run_admin(dsn: str, *args: str, stdin: str = "", direct: bool = False) -> subprocess.CompletedProcess[str]:
    prefix = [str(BIN_ADMIN)] if direct else [sys.executable, str(BIN_ADMIN)]
    return subprocess.run(
        [*prefix, *args],
        input=stdin,
        env={**os.environ, "DATABASE_URL": dsn, "JAAN_PASSWORD_COST": "10"},
        capture_output=True,
        text=True,
        timeout=60,
    )


def query(dsn: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall()) if cur.description else []


def existing_user(dsn: str, email: str, password: str = "the user's own password") -> str:
    """A customer with a live session, as sign-up would leave them; returns the user id."""
    apply_migrations(dsn)
    [(user_id,)] = query(
        dsn,
        "INSERT INTO users (email, password_hash, full_name) VALUES (%s, %s, 'Asha') RETURNING id",
        (email, hash_password_sync(password, 10)),
    )
    query(
        dsn,
        "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
        (user_id, hash_token(new_token())),
    )
    return str(user_id)


def test_create_makes_an_admin_with_the_password_from_stdin(empty_database):
    result = run_admin(
        empty_database, "create", "--email", " Boss@Example.com", "--full-name", "The Boss", stdin=PASSWORD + "\n"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "created admin boss@example.com"

    [(role, full_name, stored)] = query(
        empty_database, "SELECT role::text, full_name, password_hash FROM users WHERE email = 'boss@example.com'"
    )
    assert (role, full_name) == ("admin", "The Boss")
    assert stored.startswith("scrypt$10$") and verify_password_sync(PASSWORD, stored)
    assert query(empty_database, "SELECT type, action FROM activity_logs") == [("security", "Admin created")]
    assert query(empty_database, "SELECT count(*) FROM profiles") == [(1,)]


def test_create_applies_pending_migrations_first(empty_database):
    result = run_admin(empty_database, "create", "--email", "boss@example.com", stdin=PASSWORD)
    assert result.returncode == 0, result.stderr
    assert query(empty_database, "SELECT count(*) > 0 FROM schema_migrations") == [(True,)]


def test_create_promotes_an_existing_account_keeping_its_password_and_ending_its_sessions(empty_database):
    user_id = existing_user(empty_database, "asha@example.com")
    [(before,)] = query(empty_database, "SELECT password_hash FROM users WHERE id = %s", (user_id,))

    result = run_admin(empty_database, "create", "--email", "asha@example.com")
    assert result.returncode == 0, result.stderr
    assert "promoted asha@example.com from user to admin" in result.stdout
    assert query(empty_database, "SELECT role::text, password_hash FROM users WHERE id = %s", (user_id,)) == [
        ("admin", before)
    ]
    assert query(empty_database, "SELECT count(*) FROM sessions WHERE user_id = %s", (user_id,)) == [(0,)]
    assert query(empty_database, "SELECT action, details->>'from' FROM activity_logs") == [("Role changed", "user")]


def test_create_with_a_password_on_an_existing_account_changes_it(empty_database):
    user_id = existing_user(empty_database, "asha@example.com")
    result = run_admin(empty_database, "create", "--email", "asha@example.com", stdin=PASSWORD + "\n")
    assert result.returncode == 0, result.stderr
    [(stored,)] = query(empty_database, "SELECT password_hash FROM users WHERE id = %s", (user_id,))
    assert verify_password_sync(PASSWORD, stored)
    actions = query(empty_database, "SELECT action FROM activity_logs ORDER BY id")
    assert actions == [("Role changed",), ("Password changed",)]


def test_an_admin_already_is_left_alone_without_a_password(empty_database):
    assert run_admin(empty_database, "create", "--email", "boss@example.com", stdin=PASSWORD).returncode == 0
    again = run_admin(empty_database, "create", "--email", "boss@example.com")
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == "boss@example.com is already an admin; nothing changed"


def test_a_new_admin_needs_a_password(empty_database):
    result = run_admin(empty_database, "create", "--email", "boss@example.com")
    assert result.returncode == 1
    assert "a new admin needs a password" in result.stderr
    assert query(empty_database, "SELECT count(*) FROM users") == [(0,)]


def test_the_password_policy_applies_and_nothing_is_written(empty_database):
    result = run_admin(empty_database, "create", "--email", "boss@example.com", stdin="short\n")
    assert result.returncode == 1
    assert "at least 10 characters" in result.stderr
    assert "Traceback" not in result.stderr
    apply_migrations(empty_database)
    assert query(empty_database, "SELECT count(*) FROM users") == [(0,)]


def test_a_bad_email_is_refused(empty_database):
    result = run_admin(empty_database, "create", "--email", "not-an-email", stdin=PASSWORD)
    assert result.returncode == 1
    assert "--email must be a valid email address" in result.stderr


def test_bin_admin_runs_directly_from_the_checkout(empty_database):
    result = run_admin(empty_database, "create", "--email", "boss@example.com", stdin=PASSWORD, direct=True)
    assert result.returncode == 0, result.stderr
    assert "created admin boss@example.com" in result.stdout


class Terminal:
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_the_password_is_asked_twice(monkeypatch):
    typed = iter([PASSWORD, PASSWORD, PASSWORD, "something else entirely"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(typed))
    settings = Settings.from_env({})
    assert admin._read_password(Terminal(), settings) == PASSWORD  # type: ignore[arg-type]
    with pytest.raises(admin.AdminError, match="do not match"):
        admin._read_password(Terminal(), settings)  # type: ignore[arg-type]
