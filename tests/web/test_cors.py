"""CORS for configured origins only, and the CSRF guard on cookie-authenticated writes."""

from __future__ import annotations

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
