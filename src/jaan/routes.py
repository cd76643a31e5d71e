"""The route registry: every route declared once.

A declaration gives the method, path, access level, handler, body limit and a summary;
the app's router, the access checks, the payload limits and the OpenAPI document are all
derived from it, so they cannot disagree.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

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
    ) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes.append(Route(method.upper(), path, handler, access, summary, body_limit, self.tag))
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
        params = re.findall(r"\{(\w+)\}", path)
        if params:
            operation["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}} for p in params
            ]
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
