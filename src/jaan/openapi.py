"""The OpenAPI 3.1 document, generated from the route registry's declarations.

Every operation lists its path parameters, query parameters, JSON body and the body of every
status it answers with: the success models the route declares, and the error envelope for each
error status its declaration implies (400 when it reads input, 401/403 by access level, 404 for
a path naming a row, 413/415 for a body, 503 when the database is busy) or names (`errors`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from jaan.routes import DOCUMENT, ROUTE_INFO, Access, Raw, Route, is_id
from jaan.web.answers import AnyObject, Failure
from jaan.web.fields import MAX_INT
from jaan.web.input import BAD_TEXT

_REF = "#/components/schemas/{model}"
_ERROR_MEANINGS = {
    400: "Invalid input: `details` names each invalid field",
    401: "No valid session",
    403: "Not allowed for this account (or a cookie request from an origin not allowed)",
    404: "Not found",
    409: "Conflict with the stored data",
    413: "Request body too large",
    415: "The body must be application/json",
    422: "Idempotency-Key reused with a different body",
    429: "Too many attempts: see Retry-After",
    503: "Busy, timed out or not ready: try again (see Retry-After)",
}
_ID_SCHEMA = {"type": "integer", "minimum": 1, "maximum": MAX_INT}


def error_statuses(route: Route) -> set[int]:
    """The error statuses a route can answer with, from what it declares."""
    statuses = {503, *route.errors}
    if route.query is not None or route.body is not None or route.path_names:
        statuses.add(400)
    if route.access is not Access.PUBLIC:
        statuses.add(401)
    if route.access is Access.ADMIN or (route.access is Access.USER and route.method != "GET"):
        statuses.add(403)
    if route.path_names:
        statuses.add(404)
    if route.body is not None:
        statuses |= {413, 415}
    return statuses


def openapi(app: web.Application, title: str = "Jaan Connect API", version: str = "1") -> dict[str, Any]:
    """The document of every route `app` serves (built once per app)."""
    kept = app[DOCUMENT]
    if not kept:
        kept.update(_document(list(app[ROUTE_INFO].values()), title, version))
    return kept


def _document(routes: list[Route], title: str, version: str) -> dict[str, Any]:
    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(Failure, "serialization"), (AnyObject, "serialization")]
    for route in routes:
        if route.body_model is not None:
            wanted.append((route.body_model, "validation"))
        wanted.extend((model, "serialization") for model in route.responses.values() if not isinstance(model, Raw))
    refs, definitions = models_json_schema(list(dict.fromkeys(wanted)), ref_template=_REF)
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)
        paths.setdefault(path, {})[route.method.lower()] = _operation(route, refs)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": title,
            "version": version,
            "description": (
                "Every text value (path, query, body) refuses NUL characters and invalid Unicode (400). "
                "A query parameter may appear once; its value must match its schema (an empty value "
                "is a 400 except for free-text filters). JSON bodies nest at most 1024 levels."
            ),
        },
        "components": {
            "schemas": definitions.get("$defs", {}),
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "session_token"},
            },
        },
        "paths": paths,
    }


def _operation(route: Route, refs: Mapping[Any, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": f"{route.method.lower()}_{route.handler.__name__}",
        "summary": route.summary,
        "tags": [route.tag] if route.tag else [],
        "x-access": route.access.value,
    }
    if route.description:
        operation["description"] = route.description
    parameters = [_path_parameter(route, name) for name in route.path_names]
    parameters.extend(_query_parameters(route))
    if parameters:
        operation["parameters"] = parameters
    body = route.body_model
    if body is not None:
        operation["requestBody"] = {
            "required": route.body_required,
            "content": {"application/json": {"schema": refs[(body, "validation")]}},
        }
    responses: dict[str, Any] = {}
    for status, model in sorted(route.responses.items(), key=lambda item: item[0]):
        if isinstance(model, Raw):
            content = {model.media_type: {"schema": {"type": "string"}}}
            responses[str(status)] = {"description": model.description, "content": content}
            continue
        responses[str(status)] = {
            "description": model.__doc__.strip().splitlines()[0] if model.__doc__ else "OK",
            "content": {"application/json": {"schema": refs[(model, "serialization")]}},
        }
    if not route.responses:
        responses["200"] = {
            "description": "OK",
            "content": {"application/json": {"schema": refs[(AnyObject, "serialization")]}},
        }
    if route.method == "GET":
        responses["304"] = {"description": "Not modified: the If-None-Match ETag still matches"}
    for status in sorted(error_statuses(route)):
        responses[str(status)] = {
            "description": _ERROR_MEANINGS.get(status, "Error"),
            "content": {"application/json": {"schema": refs[(Failure, "serialization")]}},
        }
    operation["responses"] = responses
    if route.access is not Access.PUBLIC:
        operation["security"] = [{"bearer": []}, {"cookie": []}]
    return operation


def _path_parameter(route: Route, name: str) -> dict[str, Any]:
    declared = route.path_params.get(name)
    if declared is not None:
        schema = _type_schema(declared)
    elif is_id(route, name):
        schema = dict(_ID_SCHEMA)
    else:
        schema = {"type": "string", "minLength": 1, "description": BAD_TEXT}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _type_schema(annotation: Any) -> dict[str, Any]:
    from pydantic import TypeAdapter

    schema: dict[str, Any] = TypeAdapter(annotation).json_schema()
    return schema


def _query_parameters(route: Route) -> list[dict[str, Any]]:
    model = route.query_model
    if model is None:
        return []
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", ()))
    parameters = []
    for name, field_schema in schema.get("properties", {}).items():
        field_schema.pop("title", None)
        # A query string cannot send null: an optional parameter is simply left out.
        options = [option for option in field_schema.pop("anyOf", ()) if option != {"type": "null"}]
        if len(options) == 1:
            field_schema.update(options[0])
        elif options:
            field_schema["anyOf"] = options
        if field_schema.get("default", 0) is None:
            del field_schema["default"]
        parameter: dict[str, Any] = {"name": name, "in": "query", "required": name in required, "schema": field_schema}
        if "description" in field_schema:
            parameter["description"] = field_schema["description"]
        parameters.append(parameter)
    return parameters
