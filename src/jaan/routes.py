"""The route registry: every route declared once.

A declaration gives the method, path, access level, handler, body limit and summary, and the
route's input and answers as pydantic models: its path parameters, query, JSON body, and the
body of each status it answers with.  The app's router, the access checks, the payload limits,
the validation and the OpenAPI document (:mod:`jaan.openapi`) are all derived from it, so they
cannot disagree.  The handler receives its input already parsed: ``query=`` and ``body=``
keyword arguments typed as declared.
"""

from __future__ import annotations

import dataclasses
import enum
import re
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from aiohttp import web
from pydantic import BaseModel

from jaan.settings import Settings
from jaan.state import SETTINGS
from jaan.web.input import check_path, parse_body, parse_query

Handler = Callable[..., Awaitable[web.StreamResponse]]
# A body that depends on the settings (sign-up's password policy): built once per app.
BodyFor = Callable[[Settings], type[BaseModel]]


@dataclass(frozen=True)
class Raw:
    """An answer that is not JSON (a page, an image, metrics text)."""

    media_type: str
    description: str


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
    query: type[BaseModel] | None = None  # validated before the handler runs
    body: type[BaseModel] | BodyFor | None = None
    # Status -> the model of that answer's body; the error statuses a route can give are added
    # from what it declares (see jaan.openapi), `errors` names the rest (409, 422, 429).
    responses: Mapping[int, type[BaseModel] | Raw] = dataclasses.field(default_factory=dict)
    errors: tuple[int, ...] = ()
    # Path parameter -> its type (a jaan.web.fields alias); ids are whole numbers unless declared.
    path_params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    description: str = ""
    body_required: bool = True  # False: no body at all means the model's defaults

    @property
    def body_model(self) -> type[BaseModel] | None:
        """The body's model (after `install`, the settings-dependent one too)."""
        return self.body if _is_model(self.body) else None  # type: ignore[return-value]

    @property
    def query_model(self) -> type[BaseModel] | None:
        return self.query

    @property
    def path_names(self) -> list[str]:
        return re.findall(r"\{(\w+)(?::[^}]*)?\}", self.path)


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
        query: type[BaseModel] | None = None,
        body: type[BaseModel] | BodyFor | None = None,
        responses: Mapping[int, type[BaseModel] | Raw] | None = None,
        errors: tuple[int, ...] = (),
        path_params: Mapping[str, Any] | None = None,
        description: str = "",
        body_required: bool = True,
    ) -> Callable[[Handler], Handler]:
        """Declare a route; the handler gets ``query=`` / ``body=`` parsed as declared."""

        def register(handler: Handler) -> Handler:
            route = Route(
                method.upper(),
                path,
                handler,
                access,
                summary,
                body_limit,
                self.tag,
                query,
                body,
                dict(responses or {}),
                errors,
                dict(path_params or {}),
                description,
                body_required,
            )
            self.routes.append(route)
            return handler

        return register

    def __iter__(self) -> Iterator[Route]:
        return iter(self.routes)


ROUTE_INFO: web.AppKey[dict[web.AbstractRoute, Route]] = web.AppKey("route_info", dict)
# The OpenAPI document, built on first request (jaan.openapi) and kept here.
DOCUMENT: web.AppKey[dict[str, Any]] = web.AppKey("openapi_document", dict)


def install(app: web.Application, tables: list[RouteTable]) -> None:
    """Add every route to the app's router and remember its declaration."""
    info: dict[web.AbstractRoute, Route] = {}
    seen: set[tuple[str, str]] = set()
    settings = app.get(SETTINGS) or Settings()
    for table in tables:
        for declared in table:
            key = (declared.method, declared.path)
            if key in seen:
                raise ValueError(f"route declared twice: {declared.method} {declared.path}")
            seen.add(key)
            route = _resolved(declared, settings)
            info[app.router.add_route(route.method, _router_path(route), _validating(route))] = route
    app[ROUTE_INFO] = info
    app[DOCUMENT] = {}


def is_id(route: Route, name: str) -> bool:
    """Whether a path parameter is a row id (a whole number): ``id``, ``orderId``, unless declared."""
    return name not in route.path_params and (name == "id" or name.endswith("Id"))


def _router_path(route: Route) -> str:
    """The path as the router matches it: an id matches digits only, as the document says, so
    ``PUT /api/admin/invoices/stats`` is the 405 of ``/stats``, not an edit of invoice "stats"."""
    return re.sub(r"\{(\w+)\}", lambda m: f"{{{m[1]}:\\d+}}" if is_id(route, m[1]) else m[0], route.path)


def _is_model(value: object) -> bool:
    return isinstance(value, type) and issubclass(value, BaseModel)


def _resolved(route: Route, settings: Settings) -> Route:
    body = route.body
    if body is None or _is_model(body):
        return route
    build = cast(BodyFor, body)
    return dataclasses.replace(route, body=build(settings))


def _validating(route: Route) -> Handler:
    """The handler behind a check of everything the route reads: path, query and body."""
    handler, query, body, optional = route.handler, route.query_model, route.body_model, not route.body_required

    async def handle(request: web.Request) -> web.StreamResponse:
        check_path(request)
        arguments: dict[str, Any] = {}
        if query is not None:
            arguments["query"] = parse_query(request, query)
        if body is not None:
            empty = optional and not request.body_exists
            arguments["body"] = body.model_validate({}) if empty else await parse_body(request, body)
        return await handler(request, **arguments)

    handle.__name__ = handler.__name__
    handle.__doc__ = handler.__doc__
    return handle


def route_of(request: web.Request) -> Route | None:
    """The declaration of the route a request matched (None for 404/405)."""
    return request.app[ROUTE_INFO].get(request.match_info.route)
