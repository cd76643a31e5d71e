"""The access matrix every USER and ADMIN route follows: 401 without a session, 403 below admin."""

from __future__ import annotations

import psycopg2
import pytest


@pytest.mark.parametrize(
    ("who", "path", "status"),
    [
        ("anonymous", "/probe/me", 401),
        ("anonymous", "/probe/admin", 401),
        ("user", "/probe/me", 200),
        ("user", "/probe/admin", 403),
        ("moderator", "/probe/admin", 403),
        ("admin", "/probe/admin", 200),
        ("admin", "/probe/me", 200),
    ],
)
async def test_access_matrix(make_client, make_account, who, path, status):
    client = await make_client()
    headers = {} if who == "anonymous" else make_account(who).headers
    response = await client.get(path, headers=headers)
    assert response.status == status
    assert response.content_type == "application/json"
    if status == 403:
        assert (await response.json())["error"] == "Forbidden: Admin access required"


async def test_cookie_authenticates_too(make_client, customer):
    client = await make_client()
    response = await client.get("/probe/me", headers={"Cookie": f"session_token={customer.token}"})
    assert response.status == 200
    assert (await response.json())["data"]["email"] == customer.email


async def test_unknown_or_expired_token_is_401(make_client, customer, probe_database):
    client = await make_client()
    response = await client.get("/probe/me", headers={"Authorization": "Bearer " + "0" * 64})
    assert response.status == 401
    assert (await response.json())["error"] == "Invalid or expired session"
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("UPDATE sessions SET expires_at = now() - interval '1 second' WHERE user_id = %s", (customer.id,))
    conn.close()
    assert (await client.get("/probe/me", headers=customer.headers)).status == 401


async def test_tokens_are_stored_only_as_hashes(customer, probe_database):
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM sessions WHERE encode(token_hash, 'hex') = %s", (customer.token,))
        assert cur.fetchone()[0] == 0
    conn.close()
