"""Abuse limits on costly public writes: sign-up and the contact form, per client address (issue 11)."""

from __future__ import annotations

import random
import uuid
from contextlib import closing

import psycopg2

from tests.shop.test_contact import unique_form

LIMITS = {"signup_max_per_address": 20, "contact_max_per_address": 10, "abuse_window": 3600}


def new_address() -> str:
    return f"198.18.{random.randrange(256)}.{random.randrange(1, 255)}"


def signup_body() -> dict[str, str]:
    return {"email": f"flood-{uuid.uuid4().hex[:12]}@example.com", "password": "a long enough password"}


def users_like(dsn: str, emails: list[str]) -> int:
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM users WHERE email = ANY(%s)", (emails,))
        (count,) = cur.fetchone()
    return int(count)


async def test_200_sign_ups_from_one_address_get_429_past_the_limit(make_client, probe_database):
    client = await make_client(trusted_proxies=("127.0.0.1",), **LIMITS)
    address = new_address()
    bodies = [signup_body() for _ in range(200)]
    responses = []
    for body in bodies:
        client.session.cookie_jar.clear()  # a script, not a browser: no session cookie carried on
        responses.append(await client.post("/api/auth/signup", json=body, headers={"X-Forwarded-For": address}))
    statuses = [r.status for r in responses]
    assert statuses == [200] * 20 + [429] * 180
    for refused in responses[20:]:
        assert 3500 <= int(refused.headers["Retry-After"]) <= 3600
        assert (await refused.json())["error"] == "Too many requests from this address, try again later"
    assert users_like(probe_database, [b["email"] for b in bodies]) == 20
    # Another address is counted apart.
    client.session.cookie_jar.clear()
    other = await client.post("/api/auth/signup", json=signup_body(), headers={"X-Forwarded-For": new_address()})
    assert other.status == 200


async def test_200_contact_posts_from_one_address_get_429_past_the_limit(make_client):
    client = await make_client(trusted_proxies=("127.0.0.1",), **LIMITS)
    address = new_address()
    statuses = []
    for _ in range(200):
        response = await client.post("/api/contact", json=unique_form(), headers={"X-Forwarded-For": address})
        statuses.append(response.status)
        if response.status == 429:
            assert int(response.headers["Retry-After"]) > 0
    assert statuses == [201] * 10 + [429] * 190


async def test_an_ipv6_client_is_counted_by_its_64(make_client):
    client = await make_client(trusted_proxies=("127.0.0.1",), **{**LIMITS, "contact_max_per_address": 3})
    prefix = f"2001:db8:{random.randrange(65536):x}:{random.randrange(65536):x}"
    statuses = []
    for n in range(1, 6):  # a new /128 each time, in one /64
        response = await client.post("/api/contact", json=unique_form(), headers={"X-Forwarded-For": f"{prefix}::{n}"})
        statuses.append(response.status)
    assert statuses == [201, 201, 201, 429, 429]


async def test_a_passed_window_counts_afresh(make_client, probe_database):
    client = await make_client(trusted_proxies=("127.0.0.1",), **{**LIMITS, "contact_max_per_address": 1})
    address = new_address()
    headers = {"X-Forwarded-For": address}
    assert (await client.post("/api/contact", json=unique_form(), headers=headers)).status == 201
    assert (await client.post("/api/contact", json=unique_form(), headers=headers)).status == 429
    with closing(psycopg2.connect(probe_database)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE request_counts SET window_started_at = now() - interval '2 hours' WHERE key = %s", (address,)
        )
    assert (await client.post("/api/contact", json=unique_form(), headers=headers)).status == 201
