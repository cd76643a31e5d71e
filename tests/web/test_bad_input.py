"""Each class of bad input against every route family: a clear 4xx naming the field, nothing
written (issue 10's reproductions, table-driven).

Families and the field each one reads; a class applies where the family has that kind of field.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg2
import pytest

# (family, method, path, a text field, a money field or None) for JSON bodies.
BODIES = [
    (
        "accounts",
        "POST",
        "/api/auth/signup",
        {"email": "x@example.com", "password": "a long password 1"},
        "fullName",
        None,
    ),
    ("accounts", "POST", "/api/auth/signin", {"password": "a long password 1"}, "email", None),
    ("contact", "POST", "/api/contact", {}, "fullName", None),
    ("catalogue", "POST", "/api/admin/products", {}, "name", "price"),
    ("catalogue", "PUT", "/api/admin/products/1", {}, "name", "costPrice"),
    ("catalogue", "POST", "/api/admin/products/1/variants", {}, "variantName", "price"),
    ("orders", "POST", "/api/orders", {}, "customer_name", None),
    ("orders", "PUT", "/api/admin/orders/1/status", {}, "tracking_number", None),
    ("invoices", "POST", "/api/admin/invoices", {}, "customer_name", "subtotal"),
    ("invoices", "PUT", "/api/admin/invoices/1", {}, "notes", "amount_paid"),
    ("inventory", "POST", "/api/admin/inventory/adjust", {}, "reason", None),
    ("suppliers", "POST", "/api/admin/suppliers", {}, "name", "minOrderAmount"),
    ("purchasing", "POST", "/api/admin/purchase-orders", {}, "notes", "shipping_cost"),
    ("settings", "PUT", "/api/admin/settings/store_name", {}, "value", None),
]
# (family, path, a text or choice parameter, a number parameter or None) for query strings.
QUERIES = [
    ("catalogue", "/api/products", "search", "min_price"),
    ("orders", "/api/orders", "status", "page"),
    ("invoices", "/api/admin/invoices", "search", "per_page"),
    ("inventory", "/api/admin/inventory", "search", "per_page"),
    ("suppliers", "/api/admin/suppliers", "include", None),
    ("purchasing", "/api/admin/purchase-orders", "status", "supplier_id"),
    ("customers", "/api/admin/customers", "search", "page"),
    ("users", "/api/admin/users", "search", "page"),
    ("activity", "/api/admin/activity", "search", "per_page"),
    ("contact", "/api/admin/contact-submissions", "search", "perPage"),
    ("dashboard", "/api/admin/analytics", "start", None),
]

IDS = [f"{method} {path}" for _, method, path, *_ in BODIES]
NUL = "a\x00b"
LONE_SURROGATE = '"\\ud800"'


def _row_counts(dsn: str) -> dict[str, int]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT relname FROM pg_stat_user_tables WHERE schemaname = 'public' ORDER BY relname")
        tables = [name for (name,) in cur.fetchall() if name not in ("sessions", "signin_failures")]
        counts = {}
        for table in tables:
            cur.execute(f'SELECT count(*) FROM "{table}"')
            counts[table] = cur.fetchone()[0]
    conn.close()
    return counts


@pytest.fixture
async def api(make_client, admin, probe_database):
    client = await make_client()
    before = _row_counts(probe_database)
    yield client, admin.headers
    assert _row_counts(probe_database) == before, "bad input wrote something"


async def _send(client, headers, method, path, raw: bytes, content_type: str = "application/json"):
    response = await client.request(method, path, data=raw, headers={**headers, "Content-Type": content_type})
    return response.status, await response.json()


def _json_with(base: dict[str, Any], field: str, literal: str) -> bytes:
    """`base` plus `field` set to a raw JSON literal (so escapes reach the parser as sent)."""
    import json

    inner = json.dumps(base)[1:-1]
    return ("{" + (inner + ", " if inner else "") + json.dumps(field) + ": " + literal + "}").encode()


@pytest.mark.parametrize(
    ("family", "method", "path", "base", "text", "money"), BODIES, ids=[b[2] + b[1] for b in BODIES]
)
async def test_text_with_nul_or_a_lone_surrogate_is_400_naming_the_field(api, family, method, path, base, text, money):
    client, headers = api
    for literal in ('"a\\u0000b"', LONE_SURROGATE):
        status, answer = await _send(client, headers, method, path, _json_with(base, text, literal))
        assert status == 400 and text in answer["details"], (literal, answer)


@pytest.mark.parametrize(
    ("family", "method", "path", "base", "text", "money"), BODIES, ids=[b[2] + b[1] for b in BODIES]
)
async def test_json_nested_too_deep_not_utf8_or_not_json_is_refused(api, family, method, path, base, text, money):
    client, headers = api
    assert (await _send(client, headers, method, path, b"[" * 2000 + b"]" * 2000))[0] == 400
    assert (await _send(client, headers, method, path, b'{"' + text.encode() + b'": "\xff\xfe"}'))[0] == 400
    assert (await _send(client, headers, method, path, b"name=rice", "application/x-www-form-urlencoded"))[0] == 415


@pytest.mark.parametrize(
    ("family", "method", "path", "base", "text", "money"),
    [body for body in BODIES if body[5]],
    ids=[b[2] + b[1] for b in BODIES if b[5]],
)
async def test_money_beyond_its_column_is_400_before_any_arithmetic(api, family, method, path, base, text, money):
    client, headers = api
    for literal in ("1e27", '"1e27"', "10000000000", "-1", "1e-9"):
        status, answer = await _send(client, headers, method, path, _json_with(base, money, literal))
        assert status == 400 and money in answer["details"], (literal, answer)


@pytest.mark.parametrize(("family", "path", "text", "number"), QUERIES, ids=[q[1] for q in QUERIES])
async def test_bad_query_values_are_400_naming_the_parameter(api, family, path, text, number):
    client, headers = api
    # (A query cannot carry a lone surrogate: invalid UTF-8 in it is decoded as U+FFFD, plain text.)
    cases = [f"{text}=a%00b", f"{text}=x&{text}=y"]
    if number:
        cases += [f"{number}=", f"{number}=1e27", f"{number}=1&{number}=2"]
    for query in cases:
        response = await client.get(f"{path}?{query}", headers=headers)
        answer = await response.json()
        name = query.split("=")[0]
        assert response.status == 400 and name in answer["details"], (query, answer)


async def test_a_nul_in_a_path_parameter_is_400_naming_it(api):
    client, _ = api
    response = await client.get("/api/products/slug/a%00b")
    assert response.status == 400 and "slug" in (await response.json())["details"]


@pytest.mark.parametrize("start", ["0001-01-01", "1899-12-31", "3000-01-01"])
async def test_dates_outside_the_documented_range_are_400(api, start):
    client, headers = api
    response = await client.get(f"/api/admin/analytics?start={start}&end=2000-01-02", headers=headers)
    assert response.status == 400 and "start" in (await response.json())["details"]


async def test_a_margin_the_column_cannot_hold_is_stored_as_unknown_not_a_500(make_client, admin):
    client = await make_client()
    form = {"name": "Overflow", "sku": "OVF-1", "price": 0.01, "costPrice": 100000, "description": "", "unit": "g"}
    response = await client.post("/api/admin/products", json={**form, "weight": 0.001}, headers=admin.headers)
    assert response.status == 200, await response.text()
    product = (await response.json())["data"]
    assert product["margin_percentage"] is None and product["price_per_unit"] is not None
    response = await client.put(
        f"/api/admin/products/{product['id']}", json={"price": 9999999999.99}, headers=admin.headers
    )
    assert response.status == 200 and (await response.json())["data"]["price_per_unit"] is None


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \xff\xfe",
        b"Cookie: session_token=\xff\xfe",
        b"Idempotency-Key: \xff\xfe",
        b"X-Request-ID: \xff\xfe",
        b"Origin: http://\xff\xfe",
        b"X-Forwarded-For: \xff\xfe",
    ],
)
async def test_headers_the_service_reads_with_invalid_utf8_are_refused_or_ignored_never_a_500(api, header):
    client, _ = api
    reader, writer = await asyncio.open_connection("127.0.0.1", client.port)
    body = b'{"items": []}'
    writer.write(
        b"POST /api/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\n"
        + header
        + b"\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    await writer.drain()
    status_line = await reader.readline()
    writer.close()
    status = int(status_line.split()[1])
    assert 400 <= status < 500, status_line
