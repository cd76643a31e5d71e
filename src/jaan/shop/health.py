"""Liveness and readiness."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
from typing import Literal

import psycopg2.errors
from aiohttp import web

from jaan.db import migrations
from jaan.routes import Access, RouteTable
from jaan.state import DATABASE, SETTINGS
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import failure, json_response, ok

routes = RouteTable("health")
# The migration files cannot change under a running process: read them once.
_expected_migrations = functools.cache(migrations.discover)


class Alive(Shape):
    """The spec's bare shape (#5)."""

    status: Literal["ok"]
    timestamp: dt.datetime


class ReadyState(Shape):
    status: Literal["ready"]
    migrations: int


class Ready(Envelope[ReadyState]):
    """Ready: the database answers and every migration is applied."""


@routes.route(
    "GET", "/api/health", access=Access.PUBLIC, summary="Liveness: the process answers", responses={200: Alive}
)
async def liveness(request: web.Request) -> web.Response:
    # The spec's bare shape (#5), which monitors already read.
    return json_response({"status": "ok", "timestamp": dt.datetime.now(dt.UTC)})


@routes.route(
    "GET",
    "/api/health/ready",
    access=Access.PUBLIC,
    summary="Readiness: the database answers and every migration is applied",
    responses={200: Ready},
)
async def readiness(request: web.Request) -> web.Response:
    """200 when the database answers and its schema matches the migration files, else 503."""
    expected = {m.version: m.checksum for m in _expected_migrations()}
    # A load balancer's check gives up after a few seconds and learns nothing from a hang: the whole
    # check (a pooled connection, then one statement) answers within twice connect_timeout. A
    # statement sent just as the database's postmaster is killed was seen to hang over 10 s.
    try:
        async with asyncio.timeout(2 * request.app[SETTINGS].connect_timeout):
            rows = await request.app[DATABASE].fetch_all("SELECT version, checksum FROM schema_migrations")
    except psycopg2.errors.UndefinedTable:
        rows = []
    except TimeoutError:
        return failure(503, "Database not answering", headers={"Retry-After": "1"})
    applied = {row["version"]: row["checksum"] for row in rows}
    if applied != expected:
        return failure(503, "Migrations pending", pending=sorted(set(expected) - set(applied)))
    return ok({"status": "ready", "migrations": len(applied)})
