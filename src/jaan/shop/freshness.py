"""Keeping every worker's caches fresh: one LISTEN connection per worker, one callback per channel.

The database announces changes itself (triggers of migrations/0008): a catalogue change empties
the response cache, a stock change updates the worker's stock map, which the cached catalogue pages
that show that product overlay (:mod:`jaan.shop.stock_overlay`; the in-stock-only lists are dropped
when it crossed zero, as their rows change), a write to orders, invoices or users drops the admin
views built from them (but the headline figures take each order's change as it is:
:mod:`jaan.shop.dashboard.headline`), a session or user change drops those sessions (and closes their event
streams), a new event wakes the worker's event feed.

With read replicas (:mod:`jaan.db.replicas`) every change heard, and every write of this worker,
also tells the replicas' reader to wait for the primary's position of now, so a cache entry
rebuilt after a change is never read from a replica that has not replayed it yet.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from aiohttp import web

from jaan.db.listen import Listener
from jaan.db.pool import Cursor
from jaan.metrics import LISTEN_CATCH_UP, LISTEN_UP, RESPONSE_CACHE_PATCHES, Tally
from jaan.shop.accounts.revocation import ACK_CHANNEL, REVOCATIONS, REVOKED_CHANNEL, acknowledger
from jaan.shop.accounts.session_cache import SESSION_CACHE
from jaan.shop.dashboard.headline import HEADLINE_FIGURES, ORDER_FIGURES, ORDER_FIGURES_CHANNEL
from jaan.shop.events.feed import EVENT_FEED, EVENTS_CHANNEL
from jaan.shop.stock_overlay import STATUSES, STOCK_MAP, StockMap
from jaan.state import DATABASE, REPLICAS, SETTINGS
from jaan.web.response_cache import RESPONSE_CACHE, ResponseCache

CATALOGUE_CHANNEL = "jaan_catalogue"
STOCK_CHANNEL = "jaan_stock"
SESSIONS_CHANNEL = "jaan_sessions"
TABLE_CHANNEL = "jaan_changed"
# Tags of cached responses: what each shows, so a change drops exactly those.
IN_STOCK_LISTS = "in-stock-lists"
STOCK_VIEWS = "stock-views"  # what shows every product's stock (the admin's whole inventory)


T = TypeVar("T")


async def read_catalogue(app: web.Application, work: Callable[[Cursor], Awaitable[T]]) -> T:
    """A catalogue or list read for a cache build: on a replica that has every change heard of
    (see :mod:`jaan.db.replicas`), else on the primary."""
    replicas = app.get(REPLICAS)
    if replicas is not None:
        return await replicas.read(work)
    async with app[DATABASE].cursor() as cur:
        return await work(cur)


def _changed_here(app: web.Application) -> None:
    replicas = app.get(REPLICAS)
    if replicas is not None:
        replicas.changed()


# Changes applied in place rather than dropped (perf/breakdown.py compares them with the drops): counted
# per notification, so tallied (a shared-memory write each would cost more than the patch itself).
_PATCHES = Tally(RESPONSE_CACHE_PATCHES)
_STOCK_PATCHED, _FIGURES_PATCHED = (_PATCHES.counting(change) for change in ("stock", "order figures"))


def product_tag(product_id: object) -> str:
    return f"product:{product_id}"


def table_tag(table: str) -> str:
    """Tag of a response built from `table` (orders, invoices, users): dropped on any write to it."""
    return f"table:{table}"


def forget_catalogue_here(request: web.Request) -> None:
    """After a catalogue write: this worker forgets at once (the others hear it by NOTIFY within
    milliseconds), so the writer's next read is never the old page."""
    request.app[RESPONSE_CACHE].clear()
    _changed_here(request.app)


def forget_stock_here(request: web.Request, product_id: int) -> None:
    """After a stock change: this worker forgets what shows that product at once."""
    request.app[STOCK_MAP].forget(product_id)
    _stock_changed(request.app[RESPONSE_CACHE], request.app[STOCK_MAP], f"{product_id}:1")
    _changed_here(request.app)


def _stock_changed(cache: ResponseCache, stock: StockMap, payload: str) -> None:
    """'<id>:<crossed zero>:<count>:<status>' (0020), one per product, space-separated (a checkout
    names all its products in one, 0023): the pages keep, the map takes the new stock; without the
    count (0008's payload, or this worker's own change): drop what shows the product."""
    crossed = False
    for change in payload.split(" "):
        product_id, crossed_zero, quantity, status = [*change.split(":"), "", "", ""][:4]
        if quantity and status in STATUSES and stock.heard(int(product_id), int(quantity), status):
            _STOCK_PATCHED()
        else:
            cache.drop(product_tag(product_id))
        crossed = crossed or crossed_zero == "1"
    cache.drop(STOCK_VIEWS)
    if crossed:
        cache.drop(IN_STOCK_LISTS)


async def change_listener(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: listen for changes while the app runs; the caches are live only meanwhile."""
    responses, sessions, replicas = app[RESPONSE_CACHE], app[SESSION_CACHE], app.get(REPLICAS)
    stock, order_figures = app[STOCK_MAP], app[ORDER_FIGURES]

    def on_order_figures(payload: str) -> None:
        # Also the orders' table change: an inserted order sends only this (migrations/0023).
        responses.drop(table_tag("orders"))
        if order_figures.on_notification(payload):
            _FIGURES_PATCHED()
        else:
            responses.drop(HEADLINE_FIGURES)

    events = app[EVENT_FEED]

    def on_state(listening: bool) -> None:
        responses.set_live(listening)
        sessions.set_live(listening)
        LISTEN_UP.set(1 if listening else 0)
        if replicas is not None:
            replicas.live = listening
        if listening:  # back after an outage: read the events, recheck the sessions it may have missed
            events.wake()
            events.recheck(events.subscribers)

    def heard(callback: Callable[[str], object]) -> Callable[[str], None]:
        def on_notification(payload: str) -> None:
            callback(payload)
            _changed_here(app)

        return on_notification

    revocations = app[REVOCATIONS]

    def on_alive(deadline: float) -> None:
        # A late proof only pauses the caches until this one (no whole-cache drop: jaan.db.listen).
        sessions.trusted_until = responses.trusted_until = deadline
        sent = deadline - listener.trust_window  # when the probe that came back was sent
        stock.caught_up(sent)
        LISTEN_CATCH_UP.observe(time.monotonic() - sent)

    listener = Listener(
        # LISTEN is session state: straight to the primary, never through a transaction pooler.
        app[SETTINGS].database_listen_url or app[DATABASE].config.dsn,
        {
            CATALOGUE_CHANNEL: heard(lambda _: responses.clear()),
            STOCK_CHANNEL: heard(lambda payload: _stock_changed(responses, stock, payload)),
            SESSIONS_CHANNEL: sessions.on_notification,  # its revoked_hooks close event streams too
            EVENTS_CHANNEL: events.on_notification,
            TABLE_CHANNEL: heard(lambda table: responses.drop(table_tag(table))),
            ORDER_FIGURES_CHANNEL: heard(on_order_figures),
            # After the same transaction's session notifications: this worker has dropped them.
            REVOKED_CHANNEL: acknowledger(app[DATABASE], lambda: listener.id),
            ACK_CHANNEL: revocations.on_ack,
        },
        on_state=on_state,
        probe_interval=app[SETTINGS].listen_probe_interval,
        probe_timeout=app[SETTINGS].listen_probe_timeout,
        on_alive=on_alive,
    )
    await listener.start()
    yield
    await listener.stop()
