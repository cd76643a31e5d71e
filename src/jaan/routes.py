"""The route registry: every route declared once.

A declaration gives the method, path, access level, handler, body limit and a summary;
the app's router, the access checks, the payload limits and the OpenAPI document are all
derived from it, so they cannot disagree.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from jaan.web.validation import Field, object_schema

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Access(enum.Enum):
    """Who may call a route (the spec's P / U / A)."""

    PUBLIC = "public"
    USER = "user"
    ADMIN = "admin"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    handler: Handler
    access: Access
    summary: str
    body_limit: int | None = None  # bytes; None means the service's default
    tag: str = ""
    body: Mapping[str, Field] | None = None  # the JSON body's schema, for the OpenAPI document
    query: Mapping[str, Field] | None = None  # the query string's schema


class RouteTable:
    """The routes of one shop area; ``route`` is its decorator."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.routes: list[Route] = []

    def route(
        self,
        method: str,
        path: str,
        *,
        access: Access,
        summary: str,
        body_limit: int | None = None,
        body: Mapping[str, Field] | None = None,
        query: Mapping[str, Field] | None = None,
    ) -> Callable[[Handler], Handler]:
        """Declare a route; `body` and `query` are the schemas its handler validates with."""

        def register(handler: Handler) -> Handler:
            route = Route(method.upper(), path, handler, access, summary, body_limit, self.tag, body, query)
            self.routes.append(route)
            return handler

        return register

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)


ROUTE_INFO: web.AppKey[dict[web.AbstractRoute, Route]] = web.AppKey("route_info", dict)


def install(app: web.Application, tables: list[RouteTable]) -> None:
    """Add every route to the app's router and remember its declaration."""
    info: dict[web.AbstractRoute, Route] = {}
    seen: set[tuple[str, str]] = set()
    for table in tables:
        for route in table:
            key = (route.method, route.path)
            if key in seen:
                raise ValueError(f"route declared twice: {route.method} {route.path}")
            seen.add(key)
            info[app.router.add_route(route.method, route.path, route.handler)] = route
    app[ROUTE_INFO] = info


def route_of(request: web.Request) -> Route | None:
    """The declaration of the route a request matched (None for 404/405)."""
    return request.app[ROUTE_INFO].get(request.match_info.route)


def openapi(app: web.Application, title: str = "Jaan Connect API", version: str = "1") -> dict[str, Any]:
    """An OpenAPI 3.1 document listing every declared route."""
    paths: dict[str, dict[str, Any]] = {}
    for route in app[ROUTE_INFO].values():
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", route.path)
        operation: dict[str, Any] = {
            "summary": route.summary,
            "tags": [route.tag] if route.tag else [],
            "x-access": route.access.value,
            "responses": {"default": {"description": "JSON envelope"}},
        }
        parameters = [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in re.findall(r"\{(\w+)\}", path)
        ]
        for name, field in (route.query or {}).items():
            parameters.append({"name": name, "in": "query", "required": field.required, "schema": field.json_schema()})
        if parameters:
            operation["parameters"] = parameters
        if route.body is not None:
            operation["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": object_schema(route.body)}},
            }
        if route.access is not Access.PUBLIC:
            operation["security"] = [{"bearer": []}, {"cookie": []}]
        paths.setdefault(path, {})[route.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "session_token"},
            }
        },
        "paths": paths,
    }
