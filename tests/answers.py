"""Every answer the test suite sees is checked against the OpenAPI document's schema for its
route and status (issue 10: the document describes real answers, and cannot drift from them).

`check_answer` observes the test app's answers just after the request pipeline's errors step
(``answer_observers``), so it sees every answer a route gives, errors included, before CORS and
compression.  Violations are collected and
fail the test that caused them (see ``make_client`` in conftest).
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from aiohttp import web
from jsonschema_rs import Draft202012Validator

from jaan.openapi import openapi
from jaan.routes import DOCUMENT, ROUTE_INFO, route_of

VIOLATIONS: list[str] = []
CHECKED: set[tuple[str, str]] = set()  # (method, path template) of every route answered in this run
_DOCUMENTS: dict[tuple[tuple[str, str, int, int], ...], dict[str, Any]] = {}


def share_document(app: web.Application) -> None:
    """Give `app` the OpenAPI document an app with the same routes had in this run, or build it.

    Building it takes about a second and every test app's first answer needed it (most of the
    suite's time went there).  It is a function of the app's route declarations alone; settings
    reach it only through a route's body model (sign-up's password minimum), which is in the key.
    """
    routes = app[ROUTE_INFO].values()
    key = tuple((route.method, route.path, id(route.handler), id(route.body_model)) for route in routes)
    if key in _DOCUMENTS:
        app[DOCUMENT].update(_DOCUMENTS[key])
    else:
        _DOCUMENTS[key] = openapi(app)


def _schema_of(document: dict[str, Any], path: str, method: str, status: int) -> dict[str, Any] | None:
    responses = document["paths"][path][method.lower()]["responses"]
    answer = responses.get(str(status))
    if answer is None:
        return None
    content = answer.get("content", {})
    json_content = content.get("application/json")
    return {"schema": json_content["schema"]} if json_content else {}


def violations_of(app: web.Application, method: str, path: str, status: int, body: bytes) -> list[str]:
    """What is wrong with this answer according to the document (empty: nothing)."""
    document = openapi(app)
    documented = _schema_of(document, path, method, status)
    where = f"{method} {path} -> {status}"
    if documented is None:
        return [f"{where}: status not documented"]
    if "schema" not in documented:
        return []
    validator = Draft202012Validator({**documented["schema"], "components": document["components"]})
    try:
        answer = orjson.loads(body)
    except orjson.JSONDecodeError:
        return [f"{where}: not JSON"]
    return [f"{where}: {error.message} at {list(error.instance_path)}" for error in validator.iter_errors(answer)][:3]


def _template(request: web.Request) -> str | None:
    route = route_of(request)
    if route is None or route.path.startswith("/probe/"):  # test-only routes are not in the contract
        return None
    return re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)


def check_answer(request: web.Request, response: web.StreamResponse) -> None:
    path = _template(request)
    if path is None or request.method == "HEAD" or not isinstance(response, web.Response):
        return
    CHECKED.add((request.method, path))
    if response.status == 304 or response.content_type != "application/json":
        # No JSON to check: only that the status is documented.
        violations = violations_of(request.app, request.method, path, response.status, b"0")
        violations = [v for v in violations if "status not documented" in v]
    else:
        assert isinstance(response.body, bytes)
        violations = violations_of(request.app, request.method, path, response.status, response.body)
    VIOLATIONS.extend(violations)
