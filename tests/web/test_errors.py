"""Every failure reaches the client as the JSON error envelope with the right status."""

from __future__ import annotations

import io
import logging

import pytest


def assert_json_error(response, status: int) -> None:
    assert response.status == status
    assert response.content_type == "application/json"


async def test_unknown_route_is_404_json(make_client):
    client = await make_client()
    response = await client.get("/api/no-such-thing")
    assert_json_error(response, 404)
    assert await response.json() == {"success": False, "error": "Not found"}


async def test_wrong_method_is_405_json_with_allow(make_client):
    client = await make_client()
    response = await client.delete("/api/health")
    assert_json_error(response, 405)
    assert (await response.json())["error"] == "Method not allowed"
    assert "GET" in response.headers["Allow"]


async def test_malformed_json_is_400(make_client):
    client = await make_client()
    response = await client.post("/probe/order", data=b'{"name": "rice",', headers={"Content-Type": "application/json"})
    assert_json_error(response, 400)
    assert await response.json() == {"success": False, "error": "Malformed JSON body"}


async def test_nan_in_json_is_malformed(make_client):
    client = await make_client()
    response = await client.post(
        "/probe/order",
        data=b'{"name": "rice", "quantity": 1, "price": NaN}',
        headers={"Content-Type": "application/json"},
    )
    assert_json_error(response, 400)


async def test_invalid_fields_are_400_with_details_for_each(make_client):
    client = await make_client()
    response = await client.post("/probe/order", json={"name": "", "quantity": 0, "price": "1.005"})
    assert_json_error(response, 400)
    body = await response.json()
    assert body["success"] is False
    assert body["error"] == "Invalid input"
    assert set(body["details"]) == {"name", "quantity", "price"}


async def test_valid_body_passes(make_client):
    client = await make_client()
    response = await client.post("/probe/order", json={"name": "Rice", "quantity": 3, "price": 12.5})
    assert response.status == 200
    assert await response.json() == {"success": True, "data": {"name": "Rice", "quantity": 3, "price": 12.5}}


async def test_non_json_body_is_415(make_client):
    client = await make_client()
    response = await client.post("/probe/order", data="name=rice", headers={"Content-Type": "text/plain"})
    assert_json_error(response, 415)


async def test_2mb_json_body_is_413(make_client):
    client = await make_client()
    payload = io.BytesIO(b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'"}')
    response = await client.post("/probe/order", data=payload, headers={"Content-Type": "application/json"})
    assert_json_error(response, 413)
    assert "too large" in (await response.json())["error"]


async def test_our_bug_is_500_logged_with_request_id_and_not_leaked(make_client, caplog):
    client = await make_client()
    with caplog.at_level(logging.ERROR):
        response = await client.get("/probe/boom", headers={"X-Request-ID": "trace-me-42"})
    assert_json_error(response, 500)
    body = await response.json()
    assert body == {"success": False, "error": "Internal server error", "request_id": "trace-me-42"}
    assert "hunter2" not in await response.text()
    record = next(r for r in caplog.records if r.exc_info)
    assert "hunter2" in str(record.exc_info[1])  # the traceback is in the log, with the id
    assert "trace-me-42" in record.getMessage()


@pytest.mark.parametrize(
    ("key", "value", "value_type", "status"),
    [
        ("tax_rate", "0.1", "number", 409),  # duplicate key: a conflict
        ("new_rate", "NaN", "number", 400),  # a CHECK on input: invalid
    ],
)
async def test_constraint_violations_are_4xx_not_500(make_client, key, value, value_type, status):
    client = await make_client()
    response = await client.post("/probe/insert", json={"key": key, "value": value, "value_type": value_type})
    assert_json_error(response, status)
