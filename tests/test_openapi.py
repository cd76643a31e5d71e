"""The OpenAPI document and the router describe exactly the same routes."""

from __future__ import annotations

import re

from jaan.app import create_app
from tests.conftest import settings_for_tests
from tests.openapi_document import body_schema


def router_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        operations.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    return operations


async def test_every_route_is_documented_and_every_documented_route_exists(aiohttp_client, probe_database):
    app = create_app(settings_for_tests(probe_database), probe_database)
    client = await aiohttp_client(app)
    document = await (await client.get("/api/openapi.json")).json()
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == router_operations(app)
    assert ("get", "/api/health") in documented


async def test_routes_with_bodies_document_them(make_client):
    client = await make_client()
    document = await (await client.get("/api/openapi.json")).json()
    contact = body_schema(document, "/api/contact", "post")
    assert set(contact["required"]) == {"fullName", "companyName", "businessEmail", "phoneNumber", "message"}
    assert contact["properties"]["message"]["maxLength"] == 2000
    inbox = document["paths"]["/api/admin/contact-submissions"]["get"]
    assert {p["name"] for p in inbox["parameters"]} >= {"status", "search", "page", "perPage"}
    assert inbox["x-access"] == "admin"
