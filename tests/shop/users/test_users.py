"""Users and roles (#33–#34): one role each, changes audited, sessions ended, never the last admin."""

from __future__ import annotations

import asyncio
import uuid

import psycopg2
import pytest

from tests.waiting import eventually


def query(dsn, sql, params=()):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        rows = cur.fetchall() if cur.description else []
    conn.close()
    return rows


async def test_users_are_listed_once_each_newest_first_and_searchable(make_client, admin, make_account):
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    older = make_account("user", email=f"older-{tag}@example.com")
    newer = make_account("admin", email=f"newer-{tag}@example.com")
    response = await client.get(f"/api/admin/users?search={tag}&page=1", headers=admin.headers)
    assert response.status == 200
    body = await response.json()
    assert [(u["email"], u["role"]) for u in body["data"]] == [(newer.email, "admin"), (older.email, "user")]
    assert set(body["data"][0]) >= {"id", "email", "full_name", "created_at", "phone", "role"}
    assert body["total"] == 2 and body["per_page"] == 100
    assert (await client.get("/api/admin/users?per_page=1000", headers=admin.headers)).status == 400


async def test_without_paging_every_user_is_listed(make_client, admin, make_account, probe_database):
    """The web client's Users page asks without paging and counts what it gets (issue 10)."""
    client = await make_client()
    while query(probe_database, "SELECT count(*) FROM users")[0][0] <= 100:
        make_account("user")
    response = await client.get("/api/admin/users", headers=admin.headers)
    assert response.status == 200 and response.headers["Cache-Control"] == "private, no-cache"
    body = await response.json()
    assert len(body["data"]) == body["total"] == query(probe_database, "SELECT count(*) FROM users")[0][0] > 100
    assert "page" not in body and "per_page" not in body
    paged = await (await client.get("/api/admin/users?per_page=100", headers=admin.headers)).json()
    assert len(paged["data"]) == 100 and paged["total"] == body["total"]


async def test_the_whole_user_list_follows_role_name_and_phone_changes(
    make_client, admin, make_account, probe_database
):
    client = await make_client()
    tag = uuid.uuid4().hex[:8]
    user = make_account("user", email=f"follow-{tag}@example.com")
    path = f"/api/admin/users?search={tag}"

    async def shown() -> tuple:
        row = (await (await client.get(path, headers=admin.headers)).json())["data"][0]
        return row["role"], row["full_name"], row["phone"]

    assert (await shown())[0] == "user"
    changed = await client.put(f"/api/admin/users/{user.id}/role", json={"role": "moderator"}, headers=admin.headers)
    assert changed.status == 200
    assert (await shown())[0] == "moderator"  # this worker forgot at once
    # Changes made elsewhere arrive by notification.
    query(probe_database, "UPDATE users SET full_name = 'Renamed' WHERE id = %s", (str(user.id),))
    await eventually(lambda: _shows(shown, ("moderator", "Renamed", None)))
    query(
        probe_database,
        "INSERT INTO profiles (user_id, phone) VALUES (%s, '555-0199')"
        " ON CONFLICT (user_id) DO UPDATE SET phone = excluded.phone",
        (str(user.id),),
    )
    await eventually(lambda: _shows(shown, ("moderator", "Renamed", "555-0199")))
    make_account("user", email=f"another-{tag}@example.com")
    await eventually(lambda: _count_is(client, path, admin, 2))


async def _shows(read, expected) -> bool:
    return await read() == expected


async def _count_is(client, path, admin, count) -> bool:
    return len((await (await client.get(path, headers=admin.headers)).json())["data"]) == count


async def test_a_whole_user_list_past_the_ceiling_asks_for_pages(make_client, admin, make_account):
    client = await make_client(whole_list_max_rows=1)
    tag = uuid.uuid4().hex[:8]
    for n in range(2):
        make_account("user", email=f"many{n}-{tag}@example.com")
    response = await client.get(f"/api/admin/users?search={tag}", headers=admin.headers)
    assert response.status == 400 and "per_page" in (await response.json())["details"]
    paged = await client.get(f"/api/admin/users?search={tag}&per_page=1", headers=admin.headers)
    assert paged.status == 200 and (await paged.json())["total_pages"] == 2


async def test_changing_a_role_is_audited_and_ends_that_users_sessions(make_client, admin, customer, probe_database):
    client = await make_client()
    assert (await client.get("/api/auth/user", headers=customer.headers)).status == 200
    response = await client.put(
        f"/api/admin/users/{customer.id}/role", json={"role": "moderator"}, headers=admin.headers
    )
    assert response.status == 200 and (await response.json())["data"]["role"] == "moderator"
    assert query(probe_database, "SELECT role::text FROM users WHERE id = %s", (str(customer.id),)) == [("moderator",)]
    assert (await client.get("/api/auth/user", headers=customer.headers)).status == 401
    rows = query(
        probe_database,
        "SELECT type, action, severity, user_id FROM activity_logs WHERE entity_type = 'user' AND entity_id = %s",
        (str(customer.id),),
    )
    assert rows == [("security", "Role Changed", "warning", str(admin.id))]


async def test_the_same_role_again_changes_nothing(make_client, admin, customer):
    client = await make_client()
    response = await client.put(f"/api/admin/users/{customer.id}/role", json={"role": "user"}, headers=admin.headers)
    assert response.status == 200
    assert (await client.get("/api/auth/user", headers=customer.headers)).status == 200


@pytest.mark.parametrize("body", [{}, {"role": "owner"}, {"role": ["admin"]}])
async def test_invalid_roles_are_400(make_client, admin, customer, body):
    client = await make_client()
    response = await client.put(f"/api/admin/users/{customer.id}/role", json=body, headers=admin.headers)
    assert response.status == 400


async def test_unknown_users_are_404(make_client, admin):
    client = await make_client()
    for missing in (uuid.uuid4(), "nope"):
        response = await client.put(f"/api/admin/users/{missing}/role", json={"role": "user"}, headers=admin.headers)
        assert response.status == 404


async def test_the_last_admin_cannot_be_demoted_even_by_two_admins_at_once(make_client, make_account, probe_database):
    # Other tests' admins share this database: demote them for the length of this test.
    others = query(probe_database, "UPDATE users SET role = 'moderator' WHERE role = 'admin' RETURNING id")
    try:
        client = await make_client(pool_max=6)
        first, second = make_account("admin"), make_account("admin")
        responses = await asyncio.gather(
            client.put(f"/api/admin/users/{second.id}/role", json={"role": "user"}, headers=first.headers),
            client.put(f"/api/admin/users/{first.id}/role", json={"role": "user"}, headers=second.headers),
        )
        statuses = sorted(r.status for r in responses)
        # One demotion wins; the other is refused (409), or finds its caller already signed out (401).
        assert statuses[0] == 200 and statuses[1] in (401, 409)
        assert query(
            probe_database,
            "SELECT count(*) FROM users WHERE role = 'admin' AND id IN (%s, %s)",
            (str(first.id), str(second.id)),
        ) == [(1,)]
        survivor = (
            first
            if query(probe_database, "SELECT role::text FROM users WHERE id = %s", (str(first.id),)) == [("admin",)]
            else second
        )
        response = await client.put(
            f"/api/admin/users/{survivor.id}/role", json={"role": "user"}, headers=survivor.headers
        )
        assert response.status == 409
    finally:
        query(
            probe_database, "UPDATE users SET role = 'admin' WHERE id = ANY(%s::uuid[])", ([str(i) for (i,) in others],)
        )
