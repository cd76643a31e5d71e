"""Routes that exist only in tests, to drive the middlewares and the database layer."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import closing
from typing import Annotated

import psycopg2
from aiohttp import web
from pydantic import Field

from jaan.db.errors import StatementTimeout
from jaan.routes import Access, RouteTable
from jaan.shop.accounts.middleware import current_user
from jaan.state import DATABASE
from jaan.web.envelope import ok
from jaan.web.fields import Money, Text
from jaan.web.input import Body

probes = RouteTable("probes")
MB = 1024 * 1024


class ProbeOrder(Body):
    name: Annotated[str, Text(1, 50)]
    quantity: Annotated[int, Field(ge=1, le=1000)]
    price: Money


@probes.route("POST", "/probe/order", access=Access.PUBLIC, summary="validate a body", body=ProbeOrder)
async def validated(request: web.Request, body: ProbeOrder) -> web.Response:
    return ok(body.model_dump())


@probes.route("GET", "/probe/boom", access=Access.PUBLIC, summary="our bug")
async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("secret internals: password=hunter2")


@probes.route("GET", "/probe/sleep", access=Access.PUBLIC, summary="a slow handler")
async def sleepy(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("seconds", "5")))
    return ok("woke")


@probes.route("POST", "/probe/write-then-sleep", access=Access.PUBLIC, summary="half a write, then slow SQL")
async def write_then_sleep(request: web.Request) -> web.Response:
    async with request.app[DATABASE].transaction() as cur:
        await cur.execute("INSERT INTO probe_writes (note) VALUES (%s)", (request.query["note"],))
        await cur.execute("SELECT pg_sleep(%s)", (float(request.query.get("seconds", "30")),))
    return ok("written")


@probes.route("GET", "/probe/sql-sleep", access=Access.PUBLIC, summary="slow SQL outside a transaction")
async def sql_sleep(request: web.Request) -> web.Response:
    await request.app[DATABASE].fetch_value("SELECT pg_sleep(%s)", (float(request.query["seconds"]),))
    return ok("slept")


@probes.route("POST", "/probe/insert", access=Access.PUBLIC, summary="an insert that may violate constraints")
async def insert(request: web.Request) -> web.Response:
    body = await request.json()
    async with request.app[DATABASE].transaction() as cur:
        await cur.execute(
            "INSERT INTO settings (key, value, value_type) VALUES (%s, %s, %s)",
            (body["key"], body["value"], body["value_type"]),
        )
    return ok("inserted", status=201)


@probes.route("POST", "/probe/stream", access=Access.PUBLIC, summary="reads request.content directly")
async def stream(request: web.Request) -> web.Response:
    total = 0
    async for chunk in request.content.iter_any():
        total += len(chunk)
    return ok({"bytes": total})


@probes.route("POST", "/probe/upload", access=Access.PUBLIC, summary="a route allowed 3 MB", body_limit=3 * MB)
async def upload(request: web.Request) -> web.Response:
    return ok({"bytes": len(await request.read())})


@probes.route("POST", "/probe/state", access=Access.PUBLIC, summary="a state-changing request")
async def change_state(request: web.Request) -> web.Response:
    return ok("changed")


@probes.route("GET", "/probe/big", access=Access.PUBLIC, summary="a large JSON body")
async def big(request: web.Request) -> web.Response:
    return ok([{"sku": f"SKU-{i:05d}", "name": "Basmati rice 5 kg"} for i in range(500)])


@probes.route("GET", "/probe/timeout-then-continue", access=Access.PUBLIC, summary="survives a statement timeout")
async def timeout_then_continue(request: web.Request) -> web.Response:
    database = request.app[DATABASE]
    with contextlib.suppress(StatementTimeout):
        await database.fetch_value("SELECT pg_sleep(5)")
    return ok({"after": await database.fetch_value("SELECT 42 AS answer")})


@probes.route("GET", "/probe/me", access=Access.USER, summary="a signed-in route")
async def me(request: web.Request) -> web.Response:
    return ok({"email": current_user(request).email})


@probes.route("GET", "/probe/admin", access=Access.ADMIN, summary="an admin route")
async def admin_only(request: web.Request) -> web.Response:
    return ok({"email": current_user(request).email})


def sleeping_statements(dsn: str) -> int:
    """How many ``pg_sleep`` statements (the probes' slow SQL) the server is running in this database now."""
    with closing(psycopg2.connect(dsn)) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND state = 'active' AND query LIKE '%%pg_sleep(%%' AND pid <> pg_backend_pid()"
        )
        (count,) = cur.fetchone()
    return int(count)
