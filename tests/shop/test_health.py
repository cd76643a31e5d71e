"""Liveness and readiness."""

from __future__ import annotations

import datetime as dt

import aiohttp

from jaan.app import create_app
from tests.conftest import settings_for_tests


async def test_liveness_has_the_original_shape(make_client):
    client = await make_client()
    response = await client.get("/api/health")
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"status", "timestamp"}
    assert body["status"] == "ok"
    assert body["timestamp"].endswith("Z")
    assert dt.datetime.fromisoformat(body["timestamp"]).tzinfo is not None


async def test_ready_when_every_migration_is_applied(make_client):
    client = await make_client()
    response = await client.get("/api/health/ready")
    assert response.status == 200
    assert (await response.json())["data"]["status"] == "ready"


# The database first: fixtures are torn down in reverse, so the app closes before its database is
# dropped (the other way round, its listener kept reconnecting to a dropped database while the app
# closed, and on a busy machine the teardown once waited past the test's timeout).
async def test_not_ready_while_migrations_are_pending(empty_database, aiohttp_client):
    client = await aiohttp_client(create_app(settings_for_tests(empty_database), empty_database))
    response = await client.get("/api/health/ready")
    assert response.status == 503
    body = await response.json()
    assert body["success"] is False
    assert body["error"] == "Migrations pending"
    assert body["pending"][0] == 1


async def test_openapi_document_lists_the_health_routes(make_client):
    client = await make_client()
    document = await (await client.get("/api/openapi.json")).json()
    assert {"/api/health", "/api/health/ready", "/api/openapi.json"} <= set(document["paths"])


async def test_readiness_answers_503_when_the_database_stops_answering(migrated_database, aiohttp_client):
    """A check that hangs tells a load balancer nothing: with the database silent (no answer, no
    closed connection), readiness answers 503 within its bound instead of after aiopg's 70-s backstop."""
    from tests.pg_proxy import pg_proxy

    with pg_proxy(migrated_database) as proxy:
        client = await aiohttp_client(create_app(settings_for_tests(proxy.dsn(), connect_timeout=0.5), proxy.dsn()))
        assert (await client.get("/api/health/ready")).status == 200
        proxy.go_silent()
        response = await client.get("/api/health/ready", timeout=aiohttp.ClientTimeout(total=30))
        assert response.status == 503
        assert (await response.json())["error"] in {"Database not answering", "Service busy"}
        assert response.headers["Retry-After"] == "1"
        proxy.recover()  # so the app's listener can leave the listeners table as it closes
        await client.close()
