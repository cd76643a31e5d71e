"""The OpenAPI document, generated from the route registry."""

from __future__ import annotations

from aiohttp import web

from jaan.openapi import openapi
from jaan.routes import Access, RouteTable
from jaan.web.answers import AnyObject
from jaan.web.envelope import json_response

routes = RouteTable("meta")


@routes.route(
    "GET",
    "/api/openapi.json",
    access=Access.PUBLIC,
    summary="This API's OpenAPI document",
    responses={200: AnyObject},
)
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(openapi(request.app))
