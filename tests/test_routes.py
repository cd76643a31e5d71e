"""The route registry: one declaration feeds the router, the limits and the OpenAPI document."""

from __future__ import annotations

import pytest
from aiohttp import web

from jaan.openapi import openapi
from jaan.routes import Access, RouteTable, install


async def _handler(request: web.Request) -> web.Response:
    return web.Response()


def test_a_route_declared_twice_is_refused():
    table = RouteTable("catalogue")
    table.route("GET", "/api/products", access=Access.PUBLIC, summary="list")(_handler)
    table.route("GET", "/api/products", access=Access.PUBLIC, summary="again")(_handler)
    with pytest.raises(ValueError, match="declared twice"):
        install(web.Application(), [table])


def test_openapi_lists_every_route_with_its_access_level():
    table = RouteTable("orders")
    table.route("GET", "/api/orders/{id}", access=Access.USER, summary="one order")(_handler)
    table.route("PUT", "/api/admin/orders/{id}/status", access=Access.ADMIN, summary="status")(_handler)
    app = web.Application()
    install(app, [table])
    document = openapi(app)
    assert document["openapi"].startswith("3.")
    get_one = document["paths"]["/api/orders/{id}"]["get"]
    assert get_one["x-access"] == "user"
    assert get_one["parameters"][0]["name"] == "id"
    assert document["paths"]["/api/admin/orders/{id}/status"]["put"]["security"]


async def test_the_app_serves_the_routes_it_declares(make_client):
    client = await make_client()
    assert (await client.get("/api/health")).status == 200
