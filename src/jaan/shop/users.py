"""Users and roles (#33–#34): one role per user (D-23), changed with an audit trail.

A role change ends every session of that user, so the new role (lower or higher) applies from the
next sign-in, never through a token issued under the old one.  The last admin cannot be demoted:
the check locks every admin row first (in id order, so two demotions never deadlock), so two
admins demoting each other at the same moment cannot both succeed.
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Any, Literal, get_args

from aiohttp import web

from jaan.db.pool import Cursor, Row
from jaan.db.sql import escape_like
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.shop.accounts.revocation import REVOCATIONS, trust_window
from jaan.shop.accounts.roles import Role
from jaan.shop.accounts.session_cache import SESSION_CACHE
from jaan.shop.accounts.sessions import CurrentUser, end_all_sessions
from jaan.shop.activity import record_activity
from jaan.shop.freshness import table_tag
from jaan.shop.whole_lists import refuse_if_too_long, wants_whole_list, whole_list_response
from jaan.state import DATABASE, SETTINGS
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import dumps, ok
from jaan.web.errors import Conflict, NotFound
from jaan.web.fields import Text, Uuid
from jaan.web.input import Body, uuid_from_path
from jaan.web.paging import Paging, PerPage, fetch_page
from jaan.web.response_cache import RESPONSE_CACHE

routes = RouteTable("users")

RoleName = Literal["admin", "moderator", "user"]
assert set(get_args(RoleName)) == {role.value for role in Role}


class UserQuery(Paging):
    search: Annotated[str, Text(max_length=200)] = ""  # empty: any
    per_page: PerPage = 100


class RoleChange(Body):
    role: RoleName


class User(Shape):
    id: uuid.UUID
    email: str
    full_name: str | None
    role: RoleName
    created_at: dt.datetime


class UserList(Envelope[list[User]]):
    """Users, newest first: a bare array (every user, or a page with its paging keys beside it)."""

    total: int


class OneUser(Envelope[User]):
    """The user with the new role."""


_USER_SQL = "SELECT u.id, u.email, u.full_name, u.created_at, pr.phone, u.role FROM users u"
_PROFILE = " LEFT JOIN profiles pr ON pr.user_id = u.id"


@routes.route(
    "GET",
    "/api/admin/users",
    access=Access.ADMIN,
    summary="Users and their roles, newest first: every user without page/per_page (up to a ceiling), else a page"
    " (data is a bare array; paging keys beside it)",
    query=UserQuery,
    responses={200: UserList},
)
async def list_users(request: web.Request, query: UserQuery) -> web.Response:
    where, params = "true", []
    if query.search:
        where = "(u.email ILIKE %s OR u.full_name ILIKE %s)"
        params = [f"%{escape_like(query.search)}%"] * 2
    database = request.app[DATABASE]
    if wants_whole_list(query):

        async def build() -> bytes:
            async with database.cursor() as cur:
                refuse_if_too_long(
                    request, await cur.fetch_value(f"SELECT count(*) FROM users u WHERE {where}", params)
                )
                rows = await cur.fetch_all(
                    f"{_USER_SQL}{_PROFILE} WHERE {where} ORDER BY u.created_at DESC, u.id DESC", params
                )
            return dumps({"success": True, "data": rows, "total": len(rows)})

        # Kept until a user is added, removed or renamed, changes role, or a profile changes.
        tags = (table_tag("users"), table_tag("profiles"))
        return await whole_list_response(request, ("whole users", query.search), build, tags)
    async with database.cursor() as cur:
        rows, total = await fetch_page(
            cur,
            query,
            f"{_USER_SQL}{_PROFILE} WHERE {where} ORDER BY u.created_at DESC, u.id DESC",
            f"SELECT count(*) FROM users u WHERE {where}",
            params,
        )
    paging = query.result(rows, total)
    return ok(paging.pop("data"), **paging)


async def change_role(cur: Cursor, user_id: Any, role: Role, actor: CurrentUser) -> Row:
    """Give `user_id` `role`; 409 when that would leave the store without an admin."""
    admins = [
        row["id"] for row in await cur.fetch_all("SELECT id FROM users WHERE role = 'admin' ORDER BY id FOR UPDATE")
    ]
    user = await cur.fetch_one(f"{_USER_SQL}{_PROFILE} WHERE u.id = %s FOR UPDATE OF u", (user_id,))
    if user is None:
        raise NotFound("User not found")
    old = Role(user["role"])
    if old is role:
        return user
    if old is Role.ADMIN and admins == [user["id"]]:
        raise Conflict("This is the last admin; make another user an admin first")
    await cur.execute("UPDATE users SET role = %s WHERE id = %s", (role.value, user_id))
    await end_all_sessions(cur, user_id)
    await record_activity(
        cur,
        type="security",
        action="Role Changed",
        severity="warning",
        actor=actor,
        entity_type="user",
        entity_id=user_id,
        description=f"{user['email']}: {old.value} → {role.value}",
        details={"from": old.value, "to": role.value},
    )
    return {**user, "role": role.value}


@routes.route(
    "PUT",
    "/api/admin/users/{id}/role",
    access=Access.ADMIN,
    summary="Change a user's role (ends that user's sessions)",
    body=RoleChange,
    responses={200: OneUser},
    errors=(409,),
    path_params={"id": Uuid},
)
async def set_role(request: web.Request, body: RoleChange) -> web.Response:
    user_id = uuid_from_path(request, "User not found")
    revocations = request.app[REVOCATIONS]
    nonce = None
    try:
        async with request.app[DATABASE].transaction() as cur:
            user = await change_role(cur, user_id, Role(body.role), current_user(request))
            nonce = await revocations.announce(cur)
    except BaseException:
        if nonce is not None:
            revocations.abandon(nonce)
        raise
    # This worker forgets at once; the answer waits until every other one has (see revocation).
    request.app[SESSION_CACHE].forget_user(user_id)
    request.app[RESPONSE_CACHE].drop(table_tag("users"))
    await revocations.wait_for(request.app[DATABASE], nonce, trust_window(request.app[SETTINGS]))
    return ok(user)
