"""Sessions: random tokens handed to the client, stored only as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

from jaan.db.pool import Cursor, Database
from jaan.shop.accounts.roles import Role

SESSION_LIFETIME = dt.timedelta(days=7)
# The columns of a user as the API shows it (the spec's user object, with its role).
USER_COLUMNS = "u.id, u.email, u.full_name, u.email_confirmed_at, u.created_at, u.updated_at, u.role"


@dataclass(frozen=True)
class CurrentUser:
    """The signed-in user of a request."""

    id: Any  # uuid.UUID
    email: str
    full_name: str
    role: Role
    row: dict[str, Any]  # the user object of the API, as the spec shapes it
    session_id: Any

    @property
    def is_admin(self) -> bool:
        return self.role is Role.ADMIN


def hash_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def new_token() -> str:
    return secrets.token_hex(32)  # 256 bits, the original's 64-hex format


async def create_session(cur: Cursor, user_id: Any, lifetime: dt.timedelta = SESSION_LIFETIME) -> dict[str, Any]:
    """Open a session; returns the spec's session object including the token (shown only now)."""
    token = new_token()
    row = await cur.fetch_one(
        "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + %s)"
        " RETURNING id, user_id, expires_at, created_at",
        (user_id, hash_token(token), lifetime),
    )
    assert row is not None
    return {**row, "token": token}


async def user_for_token(database: Database, token: str) -> tuple[CurrentUser, dt.datetime] | None:
    """The user of a live session and when that session expires; None for an unknown or expired token."""
    row = await database.fetch_one(
        f"SELECT s.id AS session_id, s.expires_at, {USER_COLUMNS} FROM sessions s JOIN users u ON u.id = s.user_id"
        " WHERE s.token_hash = %s AND s.expires_at > now()",
        (hash_token(token),),
    )
    if row is None:
        return None
    session_id, expires_at = row.pop("session_id"), row.pop("expires_at")
    return CurrentUser(row["id"], row["email"], row["full_name"], Role(row["role"]), row, session_id), expires_at


async def end_session(cur: Cursor, token: str) -> None:
    await cur.execute("DELETE FROM sessions WHERE token_hash = %s", (hash_token(token),))


async def end_all_sessions(cur: Cursor, user_id: Any) -> None:
    """Sign a user out everywhere (after a password or role change)."""
    await cur.execute("DELETE FROM sessions WHERE user_id = %s", (user_id,))


async def purge_expired(cur: Cursor) -> int:
    await cur.execute("DELETE FROM sessions WHERE expires_at <= now()")
    return cur.rowcount
