"""Sign-up, sign-in, sign-out and the signed-in user (spec §4.2, routes #1-#4).

These routes keep the spec's bare shapes (``{user, session}`` with ``session.token`` in the
body), which the web client reads; their errors use the common error envelope.  The session
token also travels in the ``session_token`` cookie (HttpOnly, SameSite=Lax).
"""

from __future__ import annotations

import datetime as dt
import functools
import uuid
from typing import Annotated, Any

from aiohttp import web
from pydantic import StringConstraints, create_model

from jaan.db.pool import Cursor, Database, Row
from jaan.metrics import SIGNIN_FAILURES
from jaan.periodic import PeriodicJob
from jaan.routes import Access, RouteTable
from jaan.settings import Settings
from jaan.shop.abuse import count_request, remove_stale_counts
from jaan.shop.accounts import throttle
from jaan.shop.accounts.middleware import current_user, token_of
from jaan.shop.accounts.passwords import hash_password, verify_password
from jaan.shop.accounts.revocation import REVOCATIONS, Revocations, trust_window
from jaan.shop.accounts.roles import Role
from jaan.shop.accounts.session_cache import SESSION_CACHE
from jaan.shop.accounts.sessions import USER_COLUMNS, CurrentUser, create_session, end_session, purge_expired
from jaan.shop.activity import record_activity
from jaan.state import DATABASE, SETTINGS
from jaan.web.answers import Message, Shape
from jaan.web.client_address import client_address, limit_key
from jaan.web.credentials import SESSION_COOKIE
from jaan.web.envelope import json_response
from jaan.web.errors import Conflict, Unauthorized
from jaan.web.fields import Email, Text
from jaan.web.input import FormBody

routes = RouteTable("accounts")

INVALID_CREDENTIALS = "Invalid email or password"
MAX_PASSWORD_LENGTH = 200


def _password(min_length: int) -> StringConstraints:
    """A password: taken exactly as typed (never trimmed), within the policy's lengths."""
    return StringConstraints(strip_whitespace=False, min_length=min_length, max_length=MAX_PASSWORD_LENGTH)


class Credentials(FormBody):
    email: Email
    password: Annotated[str, _password(1)]

    @classmethod
    def invalid(cls, details: dict[str, str]) -> str:
        if "is required" in (details.get("email"), details.get("password")):
            return "Email and password are required"  # the spec's message, which the web client may show
        return "Invalid input"


class SignUp(Credentials):
    full_name: Annotated[str, Text(max_length=200)] = ""


@functools.cache
def sign_up_body(password_min_length: int) -> type[SignUp]:
    """The sign-up body under the configured password policy (the document shows its minimum)."""
    return create_model(
        "SignUp",
        __base__=SignUp,
        __doc__=f"A new account: a password of {password_min_length} to {MAX_PASSWORD_LENGTH} characters.",
        password=(Annotated[str, _password(password_min_length)], ...),
    )


class AuthUser(Shape):
    id: uuid.UUID
    email: str
    role: str


class Session(Shape):
    id: uuid.UUID
    user_id: uuid.UUID
    token: str
    expires_at: dt.datetime


class SignedIn(Shape):
    """The spec's bare {user, session} (the session token is also set as a cookie)."""

    user: AuthUser
    session: Session


class SignedInUser(Shape):
    """The spec's bare {user}."""

    user: AuthUser


# -- the use cases -----------------------------------------------------------------------------


def _lifetime(settings: Settings) -> dt.timedelta:
    return dt.timedelta(days=settings.session_days)


def _as_actor(user: Row, session_id: Any = None) -> CurrentUser:
    return CurrentUser(user["id"], user["email"], user["full_name"], Role(user["role"]), user, session_id)


async def sign_up(
    database: Database, settings: Settings, email: str, password: str, full_name: str, address: str
) -> tuple[Row, Row]:
    """Create a user (role user) with a profile, open their session and log it, in one transaction.

    Raises 409 when the email is taken (emails arrive normalised, so this is case-insensitive).
    """
    password_hash = await hash_password(password, settings.password_cost)
    async with database.transaction() as cur:
        user = await cur.fetch_one(
            "INSERT INTO users AS u (email, password_hash, full_name, email_confirmed_at)"
            f" VALUES (%s, %s, %s, now()) ON CONFLICT (email) DO NOTHING RETURNING {USER_COLUMNS}",
            (email, password_hash, full_name),
        )
        if user is None:
            raise Conflict("Email already exists")
        await cur.execute("INSERT INTO profiles (user_id) VALUES (%s)", (user["id"],))
        session = await create_session(cur, user["id"], _lifetime(settings))
        await record_activity(
            cur,
            type="user",
            action="User Registered",
            description=f"{email} signed up",
            actor=_as_actor(user, session["id"]),
            entity_type="user",
            entity_id=user["id"],
            ip_address=address,
            severity="success",
        )
    return user, session


async def sign_in(database: Database, settings: Settings, email: str, password: str, address: str) -> tuple[Row, Row]:
    """Check the credentials and open a session; 401 for a wrong email or password, 429 when throttled.

    Three short steps rather than one transaction: no connection is held while the password
    hash is computed.  The attempt is counted (and the lock-out checked) before the password.
    """
    async with database.transaction() as cur:
        attempt = await throttle.claim_attempt(cur, settings, email, address)
        user = await cur.fetch_one(f"SELECT {USER_COLUMNS}, u.password_hash FROM users u WHERE u.email = %s", (email,))
    await throttle.slow_down(attempt, settings)
    stored_hash = user.pop("password_hash") if user else None
    # An unknown email is checked against a dummy hash: the same time, the same answer.
    password_ok = await verify_password(password, stored_hash, settings.password_cost)
    if user is None or not password_ok:
        async with database.cursor() as cur:
            await _log_failure(cur, email, address, user)
        SIGNIN_FAILURES.inc()
        raise Unauthorized(INVALID_CREDENTIALS)
    async with database.transaction() as cur:
        await throttle.attempt_succeeded(cur, attempt)
        session = await create_session(cur, user["id"], _lifetime(settings))
        await record_activity(
            cur,
            type="security",
            action="Signed In",
            description=f"{email} signed in",
            actor=_as_actor(user, session["id"]),
            entity_type="user",
            entity_id=user["id"],
            ip_address=address,
        )
    return user, session


async def _log_failure(cur: Cursor, email: str, address: str, user: Row | None) -> None:
    await record_activity(
        cur,
        type="security",
        action="Sign-in Failed",
        description=f"Failed sign-in for {email}",
        actor=_as_actor(user) if user else None,
        entity_type="user" if user else None,
        entity_id=user["id"] if user else None,
        details={"email": email, "known_account": user is not None},
        ip_address=address,
        severity="warning",
    )


async def sign_out(database: Database, revocations: Revocations, tokens: set[str], trust_window: float) -> None:
    """End the presented sessions (unknown or expired tokens are fine: there is nothing to end).

    Answers once every worker has dropped them from its cache (see :mod:`revocation`).
    """
    nonce = None
    try:
        async with database.transaction() as cur:
            ended = 0
            for token in tokens:
                await end_session(cur, token)
                ended += cur.rowcount
            if ended:
                nonce = await revocations.announce(cur)
    except BaseException:
        if nonce is not None:
            revocations.abandon(nonce)
        raise
    if nonce is not None:
        await revocations.wait_for(database, nonce, trust_window)


# -- the handlers ------------------------------------------------------------------------------


def _with_session_cookie(response: web.Response, settings: Settings, session: Row) -> web.Response:
    response.set_cookie(
        SESSION_COOKIE,
        session["token"],
        max_age=settings.session_days * 24 * 3600,
        path="/",
        httponly=True,
        samesite="Lax",
        secure=settings.cookie_secure or None,
    )
    return response


def _session_body(session: Row) -> dict[str, Any]:
    return {key: session[key] for key in ("id", "user_id", "token", "expires_at", "created_at")}


@routes.route(
    "POST",
    "/api/auth/signup",
    access=Access.PUBLIC,
    summary="Create an account and sign in: bare {user, session}, and the session cookie",
    body=lambda settings: sign_up_body(settings.password_min_length),
    responses={200: SignedIn},
    errors=(409, 429),
)
async def signup(request: web.Request, body: SignUp) -> web.Response:
    settings = request.app[SETTINGS]
    # Counted before the password is hashed: the hash is what an abuser would make us pay for.
    await count_request(
        request.app[DATABASE],
        "signup",
        limit_key(client_address(request)),
        settings.signup_max_per_address,
        settings.abuse_window,
    )
    user, session = await sign_up(
        request.app[DATABASE],
        settings,
        body.email,
        body.password,
        body.full_name,
        client_address(request),
    )
    response = json_response({"user": user, "session": _session_body(session)})
    return _with_session_cookie(response, settings, session)


@routes.route(
    "POST",
    "/api/auth/signin",
    access=Access.PUBLIC,
    summary="Sign in: bare {user, session}, and the session cookie; 429 after repeated failures",
    body=Credentials,
    responses={200: SignedIn},
    errors=(401, 429),
)
async def signin(request: web.Request, body: Credentials) -> web.Response:
    settings = request.app[SETTINGS]
    user, session = await sign_in(request.app[DATABASE], settings, body.email, body.password, client_address(request))
    response = json_response({"user": user, "session": _session_body(session)})
    return _with_session_cookie(response, settings, session)


@routes.route(
    "POST", "/api/auth/signout", access=Access.PUBLIC, summary="End the presented session", responses={200: Message}
)
async def signout(request: web.Request) -> web.Response:
    tokens = {token for token in (token_of(request), request.cookies.get(SESSION_COOKIE)) if token}
    if tokens:
        for token in tokens:  # at once here (the others acknowledge it before the answer)
            request.app[SESSION_CACHE].forget_token(token)
        settings = request.app[SETTINGS]
        await sign_out(request.app[DATABASE], request.app[REVOCATIONS], tokens, trust_window(settings))
    response = json_response({"message": "Signed out successfully"})
    settings = request.app[SETTINGS]
    response.del_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="Lax", secure=settings.cookie_secure or None)
    return response


@routes.route(
    "GET",
    "/api/auth/user",
    access=Access.USER,
    summary="The signed-in user: bare {user}",
    responses={200: SignedInUser},
)
async def signed_in_user(request: web.Request) -> web.Response:
    return json_response({"user": current_user(request).row})


# -- housekeeping ------------------------------------------------------------------------------


def housekeeping_jobs(settings: Settings, interval: float = 600.0) -> list[PeriodicJob]:
    """The accounts' periodic jobs: purge expired sessions and forget stale sign-in failures."""

    async def forget_stale_failures(cur: Cursor) -> int:
        return await throttle.remove_stale(cur, settings)

    async def forget_stale_counts(cur: Cursor) -> int:
        return await remove_stale_counts(cur, settings.abuse_window)

    return [
        PeriodicJob("purge expired sessions", interval, purge_expired),
        PeriodicJob("forget stale sign-in failures", interval, forget_stale_failures),
        PeriodicJob("forget stale request counts", interval, forget_stale_counts),
    ]
