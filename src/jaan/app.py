"""The app factory: settings -> pools (cleanup_ctx) -> routes -> middlewares."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from jaan import routes
from jaan.db.pool import Database, PoolConfig
from jaan.db.replicas import ReadReplicas
from jaan.periodic import PeriodicJob, periodic_jobs_ctx
from jaan.settings import MB, Settings
from jaan.shop import activity_routes, api_docs, contact, customers, health, store_settings, suppliers, uploads, users
from jaan.shop.accounts import routes as accounts_routes
from jaan.shop.accounts.middleware import check_access
from jaan.shop.accounts.revocation import REVOCATIONS, Revocations
from jaan.shop.accounts.session_cache import SESSION_CACHE, SessionCache
from jaan.shop.catalogue import ROUTE_TABLES as CATALOGUE_ROUTES
from jaan.shop.catalogue.products import PRODUCT_PAGES, product_pages
from jaan.shop.dashboard import routes as dashboard_routes
from jaan.shop.dashboard.headline import ORDER_FIGURES, OrderFigures
from jaan.shop.events import routes as event_routes
from jaan.shop.events.feed import EVENT_FEED, EventFeed, close_event_streams, event_feed_ctx, prune_events
from jaan.shop.freshness import change_listener
from jaan.shop.inventory import routes as inventory_routes
from jaan.shop.invoices import routes as invoice_routes
from jaan.shop.orders import routes as order_routes
from jaan.shop.orders.idempotency import expire_idempotency_keys
from jaan.shop.purchasing import routes as purchasing_routes
from jaan.shop.stock_overlay import STOCK_MAP, StockMap
from jaan.shop.upload_housekeeping import UNUSED_UPLOADS_JOB
from jaan.state import DATABASE, REPLICAS, SETTINGS
from jaan.web.http_metrics import routes as metrics_routes
from jaan.web.pipeline import PIPELINE, Pipeline
from jaan.web.response_cache import RESPONSE_CACHE, ResponseCache

# Every shop area's routes, in the order the OpenAPI document lists them.
ROUTE_TABLES = [
    health.routes,
    accounts_routes.routes,
    contact.routes,
    uploads.routes,
    store_settings.routes,
    *CATALOGUE_ROUTES,
    order_routes.routes,
    invoice_routes.routes,
    inventory_routes.routes,
    suppliers.routes,
    purchasing_routes.routes,
    customers.routes,
    users.routes,
    dashboard_routes.routes,
    activity_routes.routes,
    event_routes.routes,
    api_docs.routes,
    metrics_routes,
]


def housekeeping_jobs(settings: Settings) -> list[PeriodicJob]:
    """Every periodic job of the service (each run by one process at a time)."""
    return [
        *accounts_routes.housekeeping_jobs(settings),
        PeriodicJob("expire idempotency keys", 600.0, expire_idempotency_keys),
        UNUSED_UPLOADS_JOB,
        PeriodicJob("prune events", 3600.0, lambda cur: prune_events(cur, settings.events_retention_days)),
    ]


def pool_config(settings: Settings, dsn: str) -> PoolConfig:
    return PoolConfig(
        dsn=dsn,
        min_size=settings.pool_min,
        max_size=settings.pool_max,
        connect_timeout=settings.connect_timeout,
        statement_timeout=settings.statement_timeout,
        lock_timeout=settings.lock_timeout,
        recycle=settings.pool_recycle,
    )


def create_app(
    settings: Settings,
    dsn: str | None = None,
    route_tables: list[routes.RouteTable] | None = None,
) -> web.Application:
    """The service as one aiohttp application.

    `dsn` is the database to use (the caller found it: DATABASE_URL or the embedded
    cluster); it defaults to ``settings.database_url``.  `route_tables` defaults to every
    shop area's.
    """
    dsn = dsn or settings.database_url
    if not dsn:
        raise ValueError("create_app needs a database: pass dsn or set DATABASE_URL")
    # Every step around a handler (metrics, request id, compression, CORS, errors, timeout,
    # limits, access) in one middleware: see jaan.web.pipeline for their order and why.
    pipeline = Pipeline(settings, check_access)
    app = web.Application(middlewares=[pipeline.handle], client_max_size=settings.max_upload_size)
    app[PIPELINE] = pipeline
    app[SETTINGS] = settings
    app[DATABASE] = Database(pool_config(settings, dsn))
    app.cleanup_ctx.append(_database_pool)
    if settings.database_replica_url:
        app[REPLICAS] = ReadReplicas.from_urls(
            app[DATABASE],
            settings.database_replica_url,
            pool_config(settings, dsn),
            settings.replica_max_lag,
            settings.replica_wait,
        )
        app.cleanup_ctx.append(_replica_pools)
    app[RESPONSE_CACHE] = ResponseCache(settings.response_cache_mb * MB)
    app[STOCK_MAP] = StockMap()
    app[PRODUCT_PAGES] = product_pages(app)
    app[ORDER_FIGURES] = OrderFigures()
    app[RESPONSE_CACHE].on_clear.append(app[STOCK_MAP].clear)  # the pages it completes are gone
    app[SESSION_CACHE] = SessionCache()
    app[EVENT_FEED] = EventFeed()
    # A session ended or its user changed: that user's streams close (or are checked) too.
    app[SESSION_CACHE].revoked_hooks.append(app[EVENT_FEED].on_sessions)
    app.cleanup_ctx.append(event_feed_ctx)  # before the listener, which wakes it
    app.on_shutdown.append(close_event_streams)  # they would hold the shutdown for its whole timeout
    app[REVOCATIONS] = Revocations()
    app.cleanup_ctx.append(change_listener)
    app.cleanup_ctx.append(periodic_jobs_ctx(housekeeping_jobs(settings)))
    routes.install(app, ROUTE_TABLES if route_tables is None else route_tables)
    return app


async def _database_pool(app: web.Application) -> AsyncIterator[None]:
    database = app[DATABASE]
    await database.open()
    yield
    await database.close()


async def _replica_pools(app: web.Application) -> AsyncIterator[None]:
    replicas = app[REPLICAS]
    await replicas.open()
    yield
    await replicas.close()
