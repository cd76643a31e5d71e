"""HTTP metrics for every request, and ``GET /metrics`` for the service's scrapers.

The request pipeline (:mod:`jaan.web.pipeline`) records every answer, including the ones its
inner steps gave (404, 413, 503...), by method, route template and status.  Its cost is a
few dictionary look-ups per request: the counts are tallied in the worker and written to shared
memory in batches (:class:`jaan.metrics.Tally`).

``/metrics`` answers only loopback clients, the ``trusted_proxies`` and ``metrics_scrapers``
(addresses or networks; ``0.0.0.0/0,::/0`` opens it to all).  The client is the one
:func:`client_address` names, so a request relayed by a trusted proxy is judged by who sent it
to the proxy, not by the proxy: a public client behind nginx is refused.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from jaan import metrics
from jaan.routes import Access, Raw, RouteTable
from jaan.state import SETTINGS
from jaan.web.client_address import client_address, parse_address, trusted_networks
from jaan.web.errors import Forbidden

UNMATCHED = "unmatched"  # 404 and 405: one label value, whatever the path (unbounded otherwise)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Tallied in the worker, written to the shared files within metrics.FLUSH_DELAY (see metrics.Tally).
_REQUESTS = metrics.Tally(metrics.HTTP_REQUESTS)
_DURATION = metrics.Tally(metrics.HTTP_DURATION)
# (method, route, status) -> the label values of the counter and of the histogram.  The route is
# aiohttp's route object (one per declared route, no template to read per request), or None for
# 404/405, whose route objects are made per request.
_labels: dict[tuple[str, web.AbstractRoute | None, int], tuple[tuple[str, str, str], tuple[str, str, str]]] = {}


def _route_of(request: web.Request) -> web.AbstractRoute | None:
    match_info = request.match_info
    return match_info.route if match_info.http_exception is None else None


def record(request: web.Request, status: int, seconds: float) -> None:
    """Count one answer and how long it took (status 499: the client went away, nginx's word)."""
    key = (request.method, _route_of(request), status)
    labels = _labels.get(key)
    if labels is None:
        method, route, _ = key
        resource = route.resource if route is not None else None
        template = resource.canonical if resource is not None else UNMATCHED
        labels = _labels[key] = ((method, template, str(status)), (method, template, f"{status // 100}xx"))
    _REQUESTS.add(*labels[0])
    _DURATION.observe(seconds, *labels[1])


routes = RouteTable("operations")


def may_scrape(request: web.Request) -> bool:
    """Loopback, a trusted proxy or a listed scraper (judged on the client, not on its proxy)."""
    address = parse_address(client_address(request))
    if address is None:
        return False
    if address.is_loopback:
        return True
    settings = request.app[SETTINGS]
    networks = trusted_networks(settings.trusted_proxies) + trusted_networks(settings.metrics_scrapers)
    return any(address in network for network in networks)


@routes.route(
    "GET",
    "/metrics",
    access=Access.PUBLIC,
    summary="Prometheus metrics of the whole service (loopback, trusted proxies and metrics_scrapers only)",
    responses={200: Raw("text/plain", "Prometheus text exposition format")},
    errors=(403,),
)
async def scrape(request: web.Request) -> web.Response:
    if not may_scrape(request):
        raise Forbidden("Metrics are served to loopback and trusted scrapers only")
    metrics.flush_tallies()  # this worker's own counts, on its loop (tallies are not thread-safe)
    # Reading every process's files (after waiting for their pending counts) blocks: off the loop.
    body = await asyncio.to_thread(metrics.exposition)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE, "Cache-Control": "no-store"})
