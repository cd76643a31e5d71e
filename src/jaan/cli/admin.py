"""``bin/admin``: bootstrap administrators (the service ships with no default admin, D-06).

``bin/admin create --email E`` creates an admin account, or promotes the existing account of
that email.  The password comes from stdin when it is not a terminal (one line), else from a
prompt typed twice; promoting keeps the current password unless one is given.  Promoting or
changing a password ends the account's sessions, so nobody keeps a session of the old state.

``bin/admin import-uploads`` moves images uploaded before migration 0012 from the data
directory's ``uploads/`` into the database, where every host serves them.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import psycopg2
from pydantic import TypeAdapter, ValidationError

from jaan.db.embedded import EmbeddedPostgresError
from jaan.db.listen import Listener
from jaan.db.locate import database_dsn
from jaan.db.migrations import MigrationError, apply_migrations
from jaan.db.pool import Cursor, Database, PoolConfig
from jaan.settings import Settings
from jaan.shop.accounts.passwords import hash_password_sync
from jaan.shop.accounts.revocation import ACK_CHANNEL, REVOKED_CHANNEL, Revocations, acknowledger, trust_window
from jaan.shop.accounts.roles import Role
from jaan.shop.accounts.routes import MAX_PASSWORD_LENGTH
from jaan.shop.accounts.sessions import USER_COLUMNS, CurrentUser, end_all_sessions
from jaan.shop.activity import record_activity
from jaan.shop.upload_housekeeping import import_files
from jaan.web.fields import Email


class AdminError(Exception):
    """A refusal to print as it is (exit status 1)."""


@dataclass(frozen=True)
class Request:
    email: str
    full_name: str | None
    password_hash: str | None


def main(argv: list[str] | None = None, stdin: TextIO | None = None) -> int:
    """Run ``bin/admin``; the exit status is 0 on success, 1 on a refusal, 2 on a usage error."""
    parser = argparse.ArgumentParser(prog="admin", description="Manage administrator accounts and uploads.")
    commands = parser.add_subparsers(dest="command", required=True)
    create = commands.add_parser(
        "create",
        help="create an admin, or promote an existing account",
        description="Create an admin account, or promote the account of that email to admin.",
    )
    create.add_argument("--email", required=True, metavar="E", help="the account's email")
    create.add_argument("--full-name", metavar="N", help="the name to show (new accounts; default none)")
    imports = commands.add_parser(
        "import-uploads",
        help="move uploaded images from the data directory into the database",
        description="Copy every recorded upload still on disk (uploads/ of the data directory) into the"
        " database, deleting each file once its row holds it. Safe to re-run, and while the service runs.",
    )
    for command in (create, imports):
        command.add_argument(
            "--data-dir",
            type=Path,
            metavar="D",
            help="data directory of the embedded database (default: JAAN_DATA_DIR, else var/)",
        )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    stdin = stdin or sys.stdin

    try:
        data_dir = args.data_dir.expanduser().resolve() if args.data_dir else None
        settings = Settings.from_env(data_dir=data_dir)
        if args.command == "import-uploads":
            with database_dsn(settings, direct=True) as dsn:
                apply_migrations(dsn)
                imported, missing = import_files(dsn, settings.uploads_dir)
            print(f"imported {imported} upload(s) into the database; {missing} recorded upload(s) had no file")
            return 0
        email = _valid_email(args.email)
        password = _read_password(stdin, settings)
        password_hash = hash_password_sync(password, settings.password_cost) if password else None
        request = Request(email, args.full_name, password_hash)
        with database_dsn(settings, direct=True) as dsn:
            apply_migrations(dsn)
            print(asyncio.run(_create_admin(dsn, request, settings)))
    except (AdminError, MigrationError, EmbeddedPostgresError, psycopg2.Error, ValueError) as exc:
        print(f"admin: {str(exc).strip()}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("admin: cancelled", file=sys.stderr)
        return 1
    return 0


def _valid_email(text: str) -> str:
    try:
        return TypeAdapter(Email).validate_python(text)
    except ValidationError:
        raise AdminError("--email must be a valid email address") from None


def _read_password(stdin: TextIO, settings: Settings) -> str | None:
    """The new password (None: keep the current one), checked against the password policy."""
    if stdin.isatty():
        password = getpass.getpass("Password (empty to keep an existing account's): ")
        if password and getpass.getpass("Password again: ") != password:
            raise AdminError("the passwords do not match")
    else:
        line = stdin.readline()
        password = line[:-1] if line.endswith("\n") else line
        password = password.removesuffix("\r")
    if not password:
        return None
    if len(password) < settings.password_min_length:
        raise AdminError(f"the password must be at least {settings.password_min_length} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise AdminError(f"the password must be at most {MAX_PASSWORD_LENGTH} characters")
    return password


async def _create_admin(dsn: str, request: Request, settings: Settings) -> str:
    """Create or promote in one transaction; returns what was done, for the operator.

    Promoting or a new password ends the account's sessions: like the API's revocations, this
    returns once every worker of the service has dropped them (see jaan.shop.accounts.revocation).
    """
    database = Database(PoolConfig(dsn=dsn, min_size=1, max_size=1, connect_timeout=10.0))
    await database.open()
    revocations = Revocations()
    listener = Listener(
        dsn,
        {REVOKED_CHANNEL: acknowledger(database, lambda: listener.id), ACK_CHANNEL: revocations.on_ack},
        probe_interval=settings.listen_probe_interval,
        probe_timeout=settings.listen_probe_timeout,
    )
    await listener.start()
    nonce = None
    try:
        async with database.transaction() as cur:
            user = await cur.fetch_one(
                f"SELECT {USER_COLUMNS} FROM users u WHERE u.email = %s FOR UPDATE", (request.email,)
            )
            if user is None:
                return await _create(cur, request)
            done = await _promote(cur, request, user)
            nonce = await revocations.announce(cur)
        await revocations.wait_for(database, nonce, trust_window(settings))
        return done
    finally:
        if nonce is not None:
            revocations.abandon(nonce)
        await listener.stop()
        await database.close()


def _actor(user: dict[str, object]) -> CurrentUser:
    return CurrentUser(user["id"], str(user["email"]), str(user["full_name"]), Role(str(user["role"])), user, None)


async def _create(cur: Cursor, request: Request) -> str:
    if request.password_hash is None:
        raise AdminError(f"no account has the email {request.email}: a new admin needs a password")
    user = await cur.fetch_one(
        "INSERT INTO users AS u (email, password_hash, full_name, role, email_confirmed_at)"
        f" VALUES (%s, %s, %s, 'admin', now()) ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}",
        (request.email, request.password_hash, request.full_name or ""),
    )
    if user is None:
        raise AdminError(f"an account with the email {request.email} was just created; run the command again")
    await cur.execute("INSERT INTO profiles (user_id) VALUES (%s)", (user["id"],))
    await record_activity(
        cur,
        type="security",
        action="Admin created",
        description=f"Admin {request.email} created with bin/admin",
        actor=_actor(user),
        entity_type="user",
        entity_id=user["id"],
        details={"via": "bin/admin"},
    )
    return f"created admin {request.email}"


async def _promote(cur: Cursor, request: Request, user: dict[str, object]) -> str:
    previous_role = str(user["role"])
    promoted = previous_role != Role.ADMIN
    if not promoted and request.password_hash is None:
        return f"{request.email} is already an admin; nothing changed"
    await cur.execute(
        "UPDATE users SET role = 'admin', password_hash = coalesce(%s, password_hash) WHERE id = %s",
        (request.password_hash, user["id"]),
    )
    # Sessions opened under the old role or the old password must not outlive them.
    await end_all_sessions(cur, user["id"])
    done = []
    if promoted:
        done.append(f"promoted {request.email} from {previous_role} to admin")
        await record_activity(
            cur,
            type="security",
            action="Role changed",
            description=f"{request.email} promoted from {previous_role} to admin with bin/admin",
            actor=_actor(user),
            entity_type="user",
            entity_id=user["id"],
            details={"from": previous_role, "to": "admin", "via": "bin/admin"},
        )
    if request.password_hash is not None:
        done.append(f"set the password of {request.email}")
        await record_activity(
            cur,
            type="security",
            action="Password changed",
            description=f"Password of {request.email} changed with bin/admin",
            actor=_actor(user),
            entity_type="user",
            entity_id=user["id"],
            details={"via": "bin/admin"},
            severity="warning",
        )
    return "; ".join(done) + "; its sessions were ended"
