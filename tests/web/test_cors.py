"""CORS for configured origins only, and the CSRF guard on cookie-authenticated writes."""

from __future__ import annotations

import itertools
from contextlib import closing

import psycopg2

from jaan.web.credentials import Credentials

SHOP = "https://shop.example"
EVIL = "https://evil.example"


async def test_allowed_origin_gets_credentialed_cors_headers(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.get("/api/health", headers={"Origin": SHOP})
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert response.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in response.headers["Vary"]


async def test_other_origin_gets_no_cors_headers(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.get("/api/health", headers={"Origin": EVIL})
    assert response.status == 200
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_no_origin_is_allowed_by_default(make_client):
    client = await make_client()
    response = await client.get("/api/health", headers={"Origin": "http://localhost:8080"})
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_preflight_from_allowed_origin_is_answered(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.options(
        "/probe/state",
        headers={
            "Origin": SHOP,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Content-Type, Idempotency-Key",
        },
    )
    assert response.status == 204
    assert response.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Idempotency-Key" in response.headers["Access-Control-Allow-Headers"]


async def test_preflight_from_other_origin_is_refused(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.options(
        "/probe/state",
        headers={
            "Origin": EVIL,
            "Access-Control-Request-Method": "POST",
        },
    )
    assert response.status == 403
    assert response.content_type == "application/json"
    assert "Access-Control-Allow-Origin" not in response.headers


async def test_cross_origin_cookie_authenticated_post_is_refused(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.post("/probe/state", headers={"Origin": EVIL, "Cookie": "session_token=abc"})
    assert response.status == 403
    assert await response.json() == {"success": False, "error": "Cross-origin request refused"}


async def test_cookie_authenticated_post_without_origin_is_refused(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.post("/probe/state", headers={"Cookie": "session_token=abc"})
    assert response.status == 403


async def test_cookie_authenticated_post_from_allowed_origin_passes(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.post("/probe/state", headers={"Origin": SHOP, "Cookie": "session_token=abc"})
    assert response.status == 200
    assert response.headers["Access-Control-Allow-Origin"] == SHOP


async def test_bearer_authenticated_post_is_not_subject_to_the_csrf_guard(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.post(
        "/probe/state",
        headers={
            "Origin": EVIL,
            "Cookie": "session_token=abc",
            "Authorization": "Bearer abc",
        },
    )
    assert response.status == 200


async def test_cookie_get_from_other_origin_is_not_refused(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.get("/api/health", headers={"Origin": EVIL, "Cookie": "session_token=abc"})
    assert response.status == 200


async def test_error_responses_carry_cors_headers_for_allowed_origins(make_client):
    client = await make_client(cors_origins=(SHOP,))
    response = await client.get("/nowhere", headers={"Origin": SHOP})
    assert response.status == 404
    assert response.headers["Access-Control-Allow-Origin"] == SHOP


# Every combination of cookie, Authorization and Origin: the guard refuses exactly the writes
# that authentication would authenticate by the cookie, from an origin that is not allowed.
AUTHORIZATIONS = {
    "none": None,
    "bearer": "Bearer abc",
    "bearer-lowercase": "bearer abc",
    "bearer-empty": "Bearer ",
    "bearer-bare": "Bearer",
    "bearer-spaces": "Bearer    ",
    "basic": "Basic eDp4",
    "garbage": "Token abc",
}
ORIGINS: dict[str, str | None] = {"none": None, "foreign": EVIL, "allowed": SHOP, "own": "own"}


async def test_the_guard_asks_the_function_that_authenticates(make_client):
    client = await make_client(cors_origins=(SHOP,))
    own_origin = f"http://{client.host}:{client.port}"
    for method, cookie, authorization, origin in itertools.product(
        ("POST", "DELETE", "GET"), (True, False), AUTHORIZATIONS, ORIGINS
    ):
        headers: dict[str, str] = {}
        if cookie:
            headers["Cookie"] = "session_token=abc"
        if (value := AUTHORIZATIONS[authorization]) is not None:
            headers["Authorization"] = value
        if origin != "none":
            headers["Origin"] = own_origin if origin == "own" else str(ORIGINS[origin])
        response = await client.request(method, "/probe/state", headers=headers)
        by_cookie = cookie and authorization not in ("bearer", "bearer-lowercase")
        refused = method != "GET" and by_cookie and origin in ("none", "foreign")
        # Not refused: POST reaches the probe (200), the others its router (405).
        expected = 403 if refused else 200 if method == "POST" else 405
        assert response.status == expected, (method, headers)


def test_credentials_follow_authentication():
    from aiohttp.test_utils import make_mocked_request

    from jaan.web.credentials import Carrier, credentials_of

    def of(**headers):
        return credentials_of(make_mocked_request("POST", "/", headers=headers))

    assert of(Cookie="session_token=c", Authorization="Bearer t") == Credentials("t", Carrier.BEARER)
    assert of(Cookie="session_token=c", Authorization="Basic eDp4") == Credentials("c", Carrier.COOKIE)
    assert of(Cookie="session_token=c", Authorization="Bearer ") == Credentials("c", Carrier.COOKIE)
    assert of(Authorization="Basic eDp4") is None
    assert of() is None


async def test_a_real_session_cookie_with_basic_auth_cannot_write_cross_site(make_client, probe_database, admin):
    """The attack of issue 11: cookie + ``Authorization: Basic`` (or an empty Bearer) + a foreign Origin."""
    client = await make_client()
    with closing(psycopg2.connect(probe_database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT value FROM settings WHERE key = 'tax_rate'")
        (before,) = cur.fetchone()
    for authorization in ("Basic eDp4", "Bearer ", "Bearer"):
        headers = {"Cookie": f"session_token={admin.token}", "Authorization": authorization, "Origin": EVIL}
        response = await client.put("/api/admin/settings/tax_rate", json={"value": 0.5}, headers=headers)
        assert response.status == 403, authorization
        assert await response.json() == {"success": False, "error": "Cross-origin request refused"}
        order = await client.post("/api/orders", json={}, headers=headers)
        assert order.status == 403, authorization
    with closing(psycopg2.connect(probe_database)) as conn, conn.cursor() as cur:
        cur.execute("SELECT value FROM settings WHERE key = 'tax_rate'")
        assert cur.fetchone() == (before,)
    # The same cookie from the API's own page still works: the guard refuses only the foreign origin.
    own = {"Cookie": f"session_token={admin.token}", "Authorization": "Basic eDp4"}
    own["Origin"] = f"http://{client.host}:{client.port}"
    response = await client.get("/api/auth/user", headers=own)
    assert response.status == 200
