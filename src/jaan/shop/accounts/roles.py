"""Roles and what each may do: the one permission table of the service."""

from __future__ import annotations

import enum

from jaan.routes import Access


class Role(enum.StrEnum):
    ADMIN = "admin"
    MODERATOR = "moderator"
    USER = "user"


# Which route access levels each role reaches.  A moderator is a signed-in user for now
# (the spec gives it nothing more); widening it is a change to this table alone.
PERMISSIONS: dict[Role, frozenset[Access]] = {
    Role.ADMIN: frozenset({Access.PUBLIC, Access.USER, Access.ADMIN}),
    Role.MODERATOR: frozenset({Access.PUBLIC, Access.USER}),
    Role.USER: frozenset({Access.PUBLIC, Access.USER}),
}


def may_access(role: Role, access: Access) -> bool:
    return access in PERMISSIONS[role]
