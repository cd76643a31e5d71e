"""Revocation holds across workers: once a sign-out or a demotion has answered, the session can
neither change anything nor read admin data in any worker (issue 11).

Against a real ``bin/serve --workers 2``: every round warms the session into the workers' caches,
revokes it, and at once fires 8 parallel requests per worker (writes and admin reads) with it.
Any answer but 401/403 is a revoked session let through.

The service reaches PostgreSQL through a proxy that holds every notification back 50 ms (a busy
worker, a remote database): the guarantee must not hang on how fast the other workers hear of a
revocation.  With reads trusting the cache and nothing else, the other worker lets the session
through in nearly every round.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import closing

import aiohttp
import psycopg2
import pytest

from jaan.shop.accounts.sessions import hash_token, new_token
from tests.pg_proxy import PgProxy, pg_proxy
from tests.serving.conftest import Service

ROUNDS = 100  # per scenario: 200 rounds in all
WORKERS = 2
PARALLEL = 8 * WORKERS
NOTIFICATION_DELAY = 0.05


class Shop:
    def __init__(self, dsn: str) -> None:
        self.conn = psycopg2.connect(dsn)
        self.conn.autocommit = True

    def user(self, role: str) -> uuid.UUID:
        with self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO users (email, password_hash, full_name, role)"
                " VALUES (%s, 'x', 'Revoked', %s) RETURNING id",
                (f"{role}-{uuid.uuid4().hex[:10]}@example.com", role),
            )
            (user_id,) = cur.fetchone()
        return uuid.UUID(str(user_id))

    def session(self, user_id: uuid.UUID) -> str:
        token = new_token()
        with self.conn.cursor() as cur:
            cur.execute(
                "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
                (str(user_id), hash_token(token)),
            )
        return token

    def promote(self, user_id: uuid.UUID) -> None:
        with self.conn.cursor() as cur:
            cur.execute("UPDATE users SET role = 'admin' WHERE id = %s", (str(user_id),))


async def attempts(http: aiohttp.ClientSession, base: str, token: str) -> list[int]:
    """PARALLEL requests at once with `token`: writes (an order, an admin setting) and admin reads.

    The writes carry bodies that a live session would get 400 for, so nothing changes either way.
    """
    auth = {"Authorization": f"Bearer {token}"}

    async def one(n: int) -> int:
        if n % 4 == 0:
            request = http.post(f"{base}/api/orders", json={}, headers=auth)
        elif n % 4 == 1:
            request = http.put(f"{base}/api/admin/settings/tax_rate", json={"value": "x"}, headers=auth)
        elif n % 4 == 2:
            request = http.get(f"{base}/api/admin/stats", headers=auth)
        else:
            request = http.get(f"{base}/api/admin/invoices/stats", headers=auth)
        async with request as response:
            await response.read()
            return response.status

    return await asyncio.gather(*(one(n) for n in range(PARALLEL)))


async def warm(http: aiohttp.ClientSession, base: str, token: str) -> None:
    """Put the session in every worker's cache (as a shopper's reads would)."""

    async def one() -> int:
        async with http.get(f"{base}/api/auth/user", headers={"Authorization": f"Bearer {token}"}) as response:
            await response.read()
            return response.status

    assert set(await asyncio.gather(*(one() for _ in range(2 * WORKERS)))) == {200}


async def run_rounds(
    service: Service, prepare: Callable[[], str], revoke: Callable[[aiohttp.ClientSession, str], Awaitable[None]]
) -> list[list[int]]:
    """Rounds of: a new session (`prepare`), cached everywhere, revoked (`revoke`), then tried at once."""
    base = f"http://127.0.0.1:{service.port}"
    let_through = []
    # A new connection per request: each is accepted by whichever worker is free, so both serve.
    connector = aiohttp.TCPConnector(limit=PARALLEL, force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
        for _ in range(ROUNDS):
            token = prepare()
            await warm(http, base, token)
            await revoke(http, token)
            statuses = await attempts(http, base, token)
            if any(status not in (401, 403) for status in statuses):
                let_through.append(statuses)
    # Both workers took part (each served a share of the rounds' requests).
    served = [worker["requests"] for worker in service.status()["workers"]]
    assert len(served) == WORKERS and min(served) > ROUNDS, served
    return let_through


@pytest.fixture
def slow_notifications(shop_database: str) -> Iterator[PgProxy]:
    with pg_proxy(shop_database, notification_delay=NOTIFICATION_DELAY) as proxy:
        yield proxy


async def test_a_signed_out_session_acts_nowhere(serve, shop_database, slow_notifications):
    service = serve("--workers", str(WORKERS), dsn=slow_notifications.dsn())
    shop = Shop(shop_database)
    victim = shop.user("admin")
    base = f"http://127.0.0.1:{service.port}"

    async def sign_out(http: aiohttp.ClientSession, token: str) -> None:
        async with http.post(f"{base}/api/auth/signout", headers={"Authorization": f"Bearer {token}"}) as response:
            assert response.status == 200, await response.text()

    with closing(shop.conn):
        assert await run_rounds(service, lambda: shop.session(victim), sign_out) == []


async def test_a_demoted_admin_acts_nowhere(serve, shop_database, slow_notifications):
    service = serve("--workers", str(WORKERS), dsn=slow_notifications.dsn())
    shop = Shop(shop_database)
    boss = shop.session(shop.user("admin"))
    victim = shop.user("admin")
    base = f"http://127.0.0.1:{service.port}"

    def promoted() -> str:
        shop.promote(victim)
        return shop.session(victim)

    async def demote(http: aiohttp.ClientSession, token: str) -> None:
        async with http.put(
            f"{base}/api/admin/users/{victim}/role", json={"role": "user"}, headers={"Authorization": f"Bearer {boss}"}
        ) as response:
            assert response.status == 200, await response.text()

    with closing(shop.conn):
        assert await run_rounds(service, promoted, demote) == []
