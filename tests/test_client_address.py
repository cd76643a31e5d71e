"""The client address: the socket's peer, or X-Forwarded-For only through a trusted proxy."""

from __future__ import annotations

import uuid
from contextlib import closing

import psycopg2
import pytest

from jaan.web.client_address import UNKNOWN, parse_address, resolve

PROXY = ("10.0.0.5",)


def test_without_trusted_proxies_the_socket_peer_is_the_client():
    assert resolve("203.0.113.7", ["198.51.100.1"], ()) == "203.0.113.7"


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored():
    assert resolve("203.0.113.7", ["198.51.100.1"], PROXY) == "203.0.113.7"


def test_a_trusted_proxy_names_the_client():
    assert resolve("10.0.0.5", ["198.51.100.1"], PROXY) == "198.51.100.1"


def test_the_right_most_untrusted_address_wins_over_what_the_client_wrote():
    # The client forged the first entry; our proxy appended what it saw.
    assert resolve("10.0.0.5", ["1.1.1.1, 198.51.100.1"], PROXY) == "198.51.100.1"


def test_a_chain_of_trusted_proxies_is_walked_through():
    proxies = ("10.0.0.0/8",)
    assert resolve("10.0.0.5", ["1.1.1.1, 198.51.100.1, 10.2.3.4"], proxies) == "198.51.100.1"
    assert resolve("10.0.0.5", ["198.51.100.1", "10.2.3.4"], proxies) == "198.51.100.1"  # two headers


def test_garbage_in_the_chain_stops_the_walk_at_the_last_good_hop():
    assert resolve("10.0.0.5", ["198.51.100.1, not-an-address"], PROXY) == "10.0.0.5"


def test_a_trusted_proxy_without_x_forwarded_for_is_the_client():
    assert resolve("10.0.0.5", [], PROXY) == "10.0.0.5"


def test_no_peer_is_unknown():
    assert resolve(None, ["198.51.100.1"], PROXY) == UNKNOWN


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("198.51.100.1", "198.51.100.1"),
        (" 198.51.100.1:4711 ", "198.51.100.1"),
        ("2001:db8::1", "2001:db8::1"),
        ("[2001:db8::1]:443", "2001:db8::1"),
        ("::ffff:198.51.100.1", "198.51.100.1"),
        ("unknown", None),
    ],
)
def test_addresses_are_read_as_proxies_write_them(text, address):
    parsed = parse_address(text)
    assert (None if parsed is None else str(parsed)) == address


async def signup_address(client, probe_database, forwarded_for: str) -> str:
    email = f"addr-{uuid.uuid4().hex[:10]}@example.com"
    response = await client.post(
        "/api/auth/signup",
        json={"email": email, "password": "a long enough password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
    assert response.status == 200
    with closing(psycopg2.connect(probe_database)) as conn, conn, conn.cursor() as cur:
        cur.execute("SELECT ip_address FROM activity_logs WHERE user_email = %s", (email,))
        (address,) = cur.fetchone()
    return str(address)


async def test_over_a_real_socket_only_a_trusted_proxy_is_believed(make_client, probe_database):
    direct = await make_client()
    assert await signup_address(direct, probe_database, "198.51.100.9") == "127.0.0.1"
    behind_proxy = await make_client(trusted_proxies=("127.0.0.1",))
    assert await signup_address(behind_proxy, probe_database, "198.51.100.9") == "198.51.100.9"


def test_a_trusted_proxy_entry_that_is_no_address_is_ignored():
    assert resolve("10.0.0.5", ["198.51.100.1"], ("proxy.internal", "10.0.0.5")) == "198.51.100.1"
    assert resolve("10.0.0.6", ["198.51.100.1"], ("proxy.internal",)) == "10.0.0.6"


async def test_orders_products_and_variants_record_the_client_address(make_client, probe_database, admin, customer):
    """Behind a trusted proxy every area records the client, never the proxy (issue 11)."""
    from tests.shop.catalogue.test_admin_products import product_body
    from tests.shop.catalogue.test_variants import variant_body
    from tests.shop.orders.conftest import cart

    client = await make_client(trusted_proxies=("127.0.0.1",))
    forwarded = {"X-Forwarded-For": "198.51.100.23"}
    product = await client.post("/api/admin/products", json=product_body(), headers={**admin.headers, **forwarded})
    assert product.status == 200, await product.text()
    product_id = (await product.json())["data"]["id"]
    with closing(psycopg2.connect(probe_database)) as conn, conn, conn.cursor() as cur:
        cur.execute("UPDATE products SET stock_quantity = 5 WHERE id = %s", (product_id,))
    variant = await client.post(
        f"/api/admin/products/{product_id}/variants", json=variant_body(), headers={**admin.headers, **forwarded}
    )
    assert variant.status == 200, await variant.text()
    order = await client.post("/api/orders", json=cart((product_id, 1)), headers={**customer.headers, **forwarded})
    assert order.status in (200, 201), await order.text()
    with closing(psycopg2.connect(probe_database)) as conn, conn, conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT entity_type, ip_address FROM activity_logs WHERE user_id IN (%s, %s)",
            (str(admin.id), str(customer.id)),
        )
        recorded = dict(cur.fetchall())
    assert recorded == {"product": "198.51.100.23", "product_variant": "198.51.100.23", "order": "198.51.100.23"}
