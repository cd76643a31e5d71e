"""The activity log as admins read it (#32): filters, search, paging, the original's `activities` key."""

from __future__ import annotations

import uuid

import psycopg2
import pytest


def log(dsn, tag: str, type_: str, severity: str, n: int = 1) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for i in range(n):
            cur.execute(
                "INSERT INTO activity_logs (type, action, description, severity, user_email)"
                " VALUES (%s, 'Test', %s, %s, %s)",
                (type_, f"{tag} event {i}", severity, f"{tag}@example.com"),
            )
    conn.close()


async def test_the_log_is_filtered_searched_and_paged_newest_first(make_client, admin, probe_database):
    client = await make_client()
    tag = uuid.uuid4().hex[:10]
    log(probe_database, tag, "order", "info", 3)
    log(probe_database, tag, "security", "warning", 2)

    async def get(query: str) -> dict:
        response = await client.get(f"/api/admin/activity?search={tag}&{query}", headers=admin.headers)
        assert response.status == 200
        return (await response.json())["data"]

    page = await get("per_page=2")
    assert set(page) == {"activities", "total", "page", "per_page", "total_pages"}
    assert (page["total"], page["page"], page["per_page"], page["total_pages"]) == (5, 1, 2, 3)
    assert [a["description"] for a in page["activities"]] == [f"{tag} event 1", f"{tag} event 0"]
    assert (await get("type=order"))["total"] == 3
    assert (await get("severity=warning"))["total"] == 2
    assert (await get("type=order&severity=warning"))["total"] == 0
    assert (await get("page=9"))["activities"] == []
    # The search matches the actor's email too, and takes % literally.
    response = await client.get(f"/api/admin/activity?search={tag}%40example", headers=admin.headers)
    assert (await response.json())["data"]["total"] == 5
    assert (await get("per_page=1"))["per_page"] == 1


@pytest.mark.parametrize("query", ["type=nonsense", "severity=fatal", "page=0", "per_page=101", "per_page=abc"])
async def test_invalid_queries_are_400(make_client, admin, query):
    client = await make_client()
    assert (await client.get(f"/api/admin/activity?{query}", headers=admin.headers)).status == 400


async def test_admin_writes_show_up_in_the_log(make_client, admin):
    client = await make_client()
    name = f"Logged supplier {uuid.uuid4().hex[:8]}"
    assert (await client.post("/api/admin/suppliers", json={"name": name}, headers=admin.headers)).status == 200
    response = await client.get(f"/api/admin/activity?type=admin&search={name}", headers=admin.headers)
    activities = (await response.json())["data"]["activities"]
    assert [(a["action"], a["user_email"], a["entity_type"]) for a in activities] == [
        ("Supplier Created", admin.email, "supplier")
    ]
