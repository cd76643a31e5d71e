"""The activity log: who did what to which entity, recorded in the caller's transaction."""

from __future__ import annotations

import json
from typing import Any, Literal

from jaan.db.pool import Cursor
from jaan.shop.accounts.sessions import CurrentUser

ActivityType = Literal["order", "user", "product", "security", "system", "admin"]
Severity = Literal["info", "warning", "success", "error"]


async def record_activity(
    cur: Cursor,
    *,
    type: ActivityType,
    action: str,
    description: str,
    actor: CurrentUser | None = None,
    entity_type: str | None = None,
    entity_id: Any = None,
    details: dict[str, Any] | None = None,
    severity: Severity = "info",
    ip_address: str | None = None,
) -> None:
    """Write one activity row inside the transaction of the change it describes.

    Queued to travel with the transaction's next statement (nothing reads its result).
    """
    cur.later(
        "INSERT INTO activity_logs (type, action, description, entity_type, entity_id, user_id,"
        " user_name, user_email, ip_address, details, severity)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            type,
            action,
            description,
            entity_type,
            None if entity_id is None else str(entity_id),
            actor.id if actor else None,
            (actor.full_name or actor.email) if actor else None,
            actor.email if actor else None,
            ip_address,
            json.dumps(details, default=str) if details is not None else None,
            severity,
        ),
    )
