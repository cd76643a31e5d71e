"""The OpenAPI document and the validation cannot drift: for every route, what the document says
is required is refused when missing, what it says is optional may be left out, a body it
describes as valid passes, and a query value it forbids is refused.

The document and the checks are both generated from one declaration per route; these tests hold
them to each other: bodies through the very function the registry's wrapper validates with, queries
through real requests on a fresh database.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import psycopg2
import pytest
from aiohttp.test_utils import TestServer

from jaan.app import create_app
from jaan.db.migrations import apply_migrations
from jaan.routes import ROUTE_INFO
from jaan.web.errors import InvalidInput
from jaan.web.input import parse
from tests.conftest import TEST_PASSWORD_COST, settings_for_tests, with_answer_checks
from tests.openapi_document import resolve


def router_operations(app) -> set[tuple[str, str]]:
    operations = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        info = route.resource.get_info()
        path = info.get("path") or info.get("formatter")
        operations.add((route.method.lower(), re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)))
    return operations


@pytest.fixture
async def admin_api(aiohttp_client, empty_database, data_dir):
    """The real app on a fresh database, and an admin's bearer token."""
    apply_migrations(empty_database)
    token = f"drift-{uuid.uuid4().hex}"
    from jaan.shop.accounts.passwords import hash_password_sync
    from jaan.shop.accounts.sessions import hash_token

    with psycopg2.connect(empty_database) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (email, password_hash, full_name, role) VALUES (%s, %s, 'Drift', 'admin') RETURNING id",
            ("drift@example.com", hash_password_sync("drift password 1", TEST_PASSWORD_COST)),
        )
        (user_id,) = cur.fetchone()
        cur.execute(
            "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
            (user_id, hash_token(token)),
        )
    conn.close()
    app = create_app(settings_for_tests(empty_database, data_dir=data_dir), empty_database)
    with_answer_checks(app)
    client = await aiohttp_client(TestServer(app))
    document = await (await client.get("/api/openapi.json")).json()
    return client, {"Authorization": f"Bearer {token}"}, document


def _concrete(path: str, operation: dict[str, Any]) -> str:
    """The path with each parameter filled by a value of its documented type."""
    for parameter in operation.get("parameters", []):
        if parameter["in"] == "path":
            value = str(uuid.uuid4()) if parameter["schema"].get("format") == "uuid" else "1"
            path = path.replace("{" + parameter["name"] + "}", value)
    return path


# Texts that satisfy the patterns the document uses (UPC-A with its check digit, times, phones).
_PATTERNED = ["000000000000", "12:00", "5551234567", "0"]


def _simplest(document: dict[str, Any], schema: dict[str, Any]) -> Any:
    """A plain instance of `schema` with every property present (so leaving one out means something)."""
    schema = resolve(document, schema)
    if "const" in schema:
        return schema["const"]
    if "enum" in schema:
        return schema["enum"][0]
    if "anyOf" in schema and "properties" not in schema:
        options = [option for option in schema["anyOf"] if option != {"type": "null"}]
        return _simplest(document, options[0])
    kind = schema.get("type", "object")
    if isinstance(kind, list):
        kind = next(k for k in kind if k != "null")
    if kind == "object":
        return {name: _simplest(document, sub) for name, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [_simplest(document, schema["items"])] * max(schema.get("minItems", 1), 1)
    if kind == "boolean":
        return False
    if kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", 0) + 1)
        return int(low) if kind == "integer" else low
    return _text(schema)


def _text(schema: dict[str, Any]) -> str:
    low, high = schema.get("minLength", 1), schema.get("maxLength", 1000)
    special = {"email": "buyer@example.com", "date": "2024-01-31", "uuid": str(uuid.uuid4())}
    candidates = [special.get(schema.get("format", ""), ""), *_PATTERNED, "x" * max(low, 1)]
    for text in candidates:
        if text and low <= len(text) <= high and re.search(schema.get("pattern", ""), text):
            return text
    raise AssertionError(f"no example text for {schema}")


def _operations(document: dict[str, Any], with_part: str) -> list[tuple[str, str, dict[str, Any]]]:
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if with_part == "body" and "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method, path, operation))
            if with_part == "query" and any(p["in"] == "query" for p in operation.get("parameters", [])):
                found.append((method, path, operation))
    return found


async def test_every_route_is_documented_and_every_documented_route_exists(admin_api):
    client, _, document = admin_api
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == router_operations(client.server.app)


def _body_details(route, body: dict[str, Any]) -> dict[str, str]:
    """What the route's own validation (the function its wrapper calls) says of `body`."""
    try:
        parse(route.body_model, body)
    except InvalidInput as exc:
        return exc.details or {"body": exc.message}
    return {}


async def test_every_body_field_is_required_or_optional_exactly_as_documented(admin_api):
    client, _, document = admin_api
    declared = {
        (route.method.lower(), _template(route.path)): route for route in client.server.app[ROUTE_INFO].values()
    }
    operations = _operations(document, "body")
    assert len(operations) >= 20
    for method, template, operation in operations:
        route = declared[(method, template)]
        schema_ref = operation["requestBody"]["content"]["application/json"]["schema"]
        schema = resolve(document, schema_ref)
        valid = _simplest(document, schema_ref)
        assert isinstance(valid, dict)
        assert _body_details(route, valid) == {}, f"{method} {template}: a documented-valid body was refused"
        for name in schema.get("properties", {}):
            details = _body_details(route, {key: value for key, value in valid.items() if key != name})
            if name in schema.get("required", []):
                assert details.get(name) == "is required", f"{method} {template}: {name} is documented required"
            else:
                assert name not in details, f"{method} {template}: {name} is documented optional: {details}"


def _template(path: str) -> str:
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path)


def _forbidden_value(schema: dict[str, Any]) -> str | None:
    """A query value the parameter's schema does not allow (None: it allows any text)."""
    if "enum" in schema:
        return "not-a-choice"
    kind = schema.get("type")
    if kind in ("integer", "number", "boolean"):
        return "x"
    if schema.get("format") == "date":
        return "someday"
    if "maxLength" in schema:
        return "a" * (schema["maxLength"] + 1)
    return None


async def test_every_query_parameter_is_optional_and_checked_as_documented(admin_api):
    client, headers, document = admin_api
    operations = _operations(document, "query")
    assert len(operations) >= 10
    for method, template, operation in operations:
        path = _concrete(template, operation)
        for parameter in (p for p in operation["parameters"] if p["in"] == "query"):
            name = parameter["name"]
            assert not parameter["required"], f"{template}: {name}"
            bad = _forbidden_value(parameter["schema"])
            if bad is None:
                continue
            response = await client.request(method.upper(), path, params={name: bad}, headers=headers)
            answer = await response.json()
            assert response.status == 400 and name in answer.get("details", {}), f"{template}?{name}={bad}: {answer}"
