"""The OpenAPI document, generated from the route registry, and a page to read it (`/api/docs`).

The page is Swagger UI from the `swagger-ui-py` package's bundled files (Swagger UI 5, which reads
OpenAPI 3.1), served by this API itself: no CDN, so it works offline and behind a strict
Content-Security-Policy that allows nothing but this origin.
"""

from __future__ import annotations

import importlib.util
import mimetypes
from pathlib import Path

from aiohttp import hdrs, web

from jaan.openapi import openapi
from jaan.routes import Access, Raw, RouteTable
from jaan.shop.events.docs import document_events
from jaan.web.answers import AnyObject
from jaan.web.envelope import json_response
from jaan.web.errors import NotFound
from jaan.web.etag import etag_of, matches

routes = RouteTable("meta")

DOCS_PATH = "/api/docs"
# Swagger UI may draw its icons from data: URLs and set inline styles; everything else is ours.
_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; script-src 'self';"
    " connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_PAGE = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Jaan Connect API reference</title>
<link rel="stylesheet" href="{DOCS_PATH}/swagger-ui.css">
<link rel="icon" type="image/png" href="{DOCS_PATH}/favicon-32x32.png">
</head>
<body>
<div id="swagger-ui"></div>
<script src="{DOCS_PATH}/swagger-ui-bundle.js"></script>
<script src="{DOCS_PATH}/start.js"></script>
</body>
</html>
""".encode()
# A file of its own rather than an inline script, so the policy can forbid inline scripts.
_START = b"""window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    defaultModelsExpandDepth: 0
  });
});
"""
# The package's files the page uses (its other presets, the editor and source maps stay unserved).
_BUNDLED = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")


def _bundled_dir() -> Path:
    spec = importlib.util.find_spec("swagger_ui")  # found, not imported: we need its files only
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the swagger-ui-py package is not installed (setup.cfg installs it)")
    return Path(next(iter(spec.submodule_search_locations))) / "static"


class _Asset:
    def __init__(self, body: bytes, content_type: str) -> None:
        self.body, self.content_type, self.etag = body, content_type, etag_of(body)


_PAGE_ASSET = _Asset(_PAGE, "text/html")
_assets: dict[str, _Asset] = {"start.js": _Asset(_START, "text/javascript")}


def _asset(name: str) -> _Asset:
    """A page file, read once per worker (they never change while it runs)."""
    if name not in _assets:
        if name not in _BUNDLED:
            raise NotFound("Not found")
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        _assets[name] = _Asset((_bundled_dir() / name).read_bytes(), content_type)
    return _assets[name]


def _serve(request: web.Request, asset: _Asset, headers: dict[str, str] | None = None) -> web.Response:
    # Revalidated daily: an upgraded package changes the files behind the same names.
    headers = {hdrs.ETAG: asset.etag, hdrs.CACHE_CONTROL: "public, max-age=86400", **(headers or {})}
    if_none_match = request.headers.get(hdrs.IF_NONE_MATCH)
    if if_none_match and matches(if_none_match, asset.etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)


@routes.route(
    "GET",
    "/api/openapi.json",
    access=Access.PUBLIC,
    summary="This API's OpenAPI document",
    responses={200: AnyObject},
)
async def openapi_document(request: web.Request) -> web.Response:
    return json_response(document_events(openapi(request.app)))


@routes.route(
    "GET",
    DOCS_PATH,
    access=Access.PUBLIC,
    summary="An interactive reference of the OpenAPI document",
    responses={200: Raw("text/html", "The reference page"), 304: Raw("text/html", "Not modified")},
)
async def docs_page(request: web.Request) -> web.Response:
    return _serve(request, _PAGE_ASSET, {"Content-Security-Policy": _POLICY, "X-Content-Type-Options": "nosniff"})


@routes.route(
    "GET",
    DOCS_PATH + "/{asset}",
    access=Access.PUBLIC,
    summary="The reference page's scripts, styles and icon",
    responses={200: Raw("*/*", "The asset"), 304: Raw("*/*", "Not modified")},
)
async def docs_asset(request: web.Request) -> web.Response:
    asset = _asset(request.match_info["asset"])
    return _serve(request, asset, {"X-Content-Type-Options": "nosniff"})
