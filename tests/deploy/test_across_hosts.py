"""What issue 13 asks of several hosts, proven on the loopback rehearsal (deploy/rehearse)."""

from __future__ import annotations

import time
import uuid
from contextlib import closing
from typing import Any

import psycopg2
from aiohttp.test_utils import TestServer

from jaan.app import ROUTE_TABLES, create_app
from tests.conftest import settings_for_tests
from tests.deploy.conftest import call, make_product, session_for, sql
from tests.probes import probes
from tests.shop.test_uploads import png_bytes


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def poll(check: Any, timeout: float = 15.0) -> float:
    """Seconds until check() held (generous: 2 busy cores); fails after timeout."""
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < timeout, "not seen within the timeout"
        time.sleep(0.05)
    return time.monotonic() - started


def test_a_product_changed_through_host_a_is_shown_changed_by_host_b(topology, admin_token):
    a, b = (host["url"] for host in topology["hosts"])
    product = make_product(topology["primary"]["dsn"])
    page = f"{b}/api/products/slug/{product['slug']}"
    assert call(page).status == 200 and call(page).status == 200  # B has it cached now
    renamed = f"Renamed {uuid.uuid4().hex[:6]}"
    changed = call(f"{a}/api/admin/products/{product['id']}", "PUT", {"name": renamed}, bearer(admin_token))
    assert changed.status == 200, changed.body
    seconds = poll(lambda: call(page).json()["data"]["name"] == renamed)
    print(f"host B showed the change {seconds:.3f} s after host A's answer")


def test_an_image_uploaded_through_host_a_is_served_by_host_b_and_cached_by_nginx(topology, admin_token):
    a, b = (host["url"] for host in topology["hosts"])
    boundary = "rehearsal"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        ).encode()
        + png_bytes(16)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    headers = {**bearer(admin_token), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    uploaded = call(f"{a}/api/admin/uploads", "POST", body, headers)
    assert uploaded.status == 200, uploaded.body
    url = uploaded.json()["data"]["urls"][0]
    assert url.startswith(topology["url"] + "/uploads/")  # links name the public (nginx) origin
    path = url[len(topology["url"]) :]
    served = call(b + path)
    assert served.status == 200 and served.body == png_bytes(16)
    first, second = call(topology["url"] + path), call(topology["url"] + path)
    assert first.body == second.body == png_bytes(16)
    assert second.headers["X-Cache-Status"] == "HIT"


def test_a_session_signed_out_on_host_a_is_refused_by_host_b(topology):
    a, b = (host["url"] for host in topology["hosts"])
    token = session_for(topology["primary"]["dsn"], "user")
    assert call(f"{b}/api/auth/user", headers=bearer(token)).status == 200  # B has it cached now
    assert call(f"{a}/api/auth/signout", "POST", headers=bearer(token)).status == 200
    poll(lambda: call(f"{b}/api/auth/user", headers=bearer(token)).status == 401)


def test_the_sign_in_throttle_counts_across_hosts(topology):
    a, b = (host["url"] for host in topology["hosts"])
    email = f"throttled-{uuid.uuid4().hex[:6]}@example.com"
    session_for(topology["primary"]["dsn"], "user")
    statuses = [
        call(f"{(a, b)[n % 2]}/api/auth/signin", "POST", {"email": email, "password": "wrong password 1"}).status
        for n in range(8)
    ]
    assert 429 in statuses, statuses  # the failures counted on A and B are one count


async def test_through_pgbouncer_a_statement_over_statement_timeout_is_503_and_no_setting_leaks(
    topology, aiohttp_client
):
    pooled, primary = topology["pgbouncer"]["dsn"], topology["primary"]["dsn"]
    sql(primary, "CREATE TABLE IF NOT EXISTS probe_writes (id serial PRIMARY KEY, note text NOT NULL)")
    settings = settings_for_tests(
        pooled, database_listen_url=primary, db_pooler_connections=4, statement_timeout=0.3, lock_timeout=0.2
    )
    client = await aiohttp_client(TestServer(create_app(settings, pooled, route_tables=[*ROUTE_TABLES, probes])))
    response = await client.get("/probe/sql-sleep", params={"seconds": "5"})  # uncut, it would answer 200
    assert response.status == 503
    assert await response.json() == {"success": False, "error": "Database statement timed out"}
    for _ in range(5):
        assert (await client.get("/api/products")).status == 200
    # Other clients of the same PgBouncer get the server connections the app just used (LIFO):
    # none carries its 300 ms statement_timeout or 200 ms lock_timeout.
    for _ in range(20):
        with closing(psycopg2.connect(pooled)) as conn, conn.cursor() as cur:
            cur.execute("SELECT current_setting('statement_timeout'), current_setting('lock_timeout')")
            assert cur.fetchone() == ("0", "0")


def cart(product_id: int, quantity: int) -> dict[str, Any]:
    return {
        "customer_name": "Rehearsal",
        "customer_email": "rehearsal@example.com",
        "customer_phone": "555-0100",
        "shipping_address": {
            "street": "1 Loopback Lane",
            "city": "Springfield",
            "state": "IL",
            "zip": "62701",
            "country": "United States",
        },
        "items": [{"product_id": product_id, "quantity": quantity}],
        "payment_method": "cash_on_delivery",
    }


def test_an_idempotency_key_and_the_order_numbers_hold_across_hosts(topology):
    a, b = (host["url"] for host in topology["hosts"])
    primary = topology["primary"]["dsn"]
    product = make_product(primary)
    customer = bearer(session_for(primary, "user"))
    key = {"Idempotency-Key": f"rehearsal-{uuid.uuid4()}"}
    first = call(f"{a}/api/orders", "POST", cart(product["id"], 2), {**customer, **key})
    retried = call(f"{b}/api/orders", "POST", cart(product["id"], 2), {**customer, **key})
    assert first.status == retried.status == 200, (first.body, retried.body)
    assert first.json() == retried.json()  # host B answered host A's order, made once
    numbers = [
        call(f"{host}/api/orders", "POST", cart(product["id"], 1), customer).json()["data"] for host in (a, b, a, b)
    ]
    rows = sql(primary, "SELECT count(*), sum(quantity) FROM order_items WHERE product_id = %s", (product["id"],))
    assert rows == [(5, 6)]
    assert len({order["order_number"] for order in numbers}) == 4  # one sequence for every host
