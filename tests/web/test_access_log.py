"""One access-log line per request, as text or as a JSON line."""

from __future__ import annotations

import asyncio
import json
import logging

from jaan.logs import JsonFormatter


async def access_lines(caplog, count: int) -> list[logging.LogRecord]:
    """The access-log records, once `count` are there (they are written after the response is sent)."""
    for _ in range(100):
        lines = [r for r in caplog.records if r.name == "jaan.access"]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    return [r for r in caplog.records if r.name == "jaan.access"]


async def test_one_line_per_request_with_the_fields_operators_read(make_client, caplog):
    client = await make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="jaan.access"):
        await client.get("/api/health", headers={"X-Request-ID": "rid-access-1"})
        await client.get("/nowhere", headers={"X-Request-ID": "rid-access-2"})
        lines = await access_lines(caplog, 2)
    assert len(lines) == 2
    first = lines[0].__dict__["access"]
    assert (first["method"], first["path"], first["status"], first["request_id"]) == (
        "GET",
        "/api/health",
        200,
        "rid-access-1",
    )
    assert first["bytes"] > 0 and first["duration_ms"] >= 0
    assert "GET /api/health" in lines[0].getMessage() and "rid-access-1" in lines[0].getMessage()
    assert lines[1].__dict__["access"]["status"] == 404


async def test_access_log_can_be_turned_off(make_client, caplog):
    client = await make_client(access_log=False)
    with caplog.at_level(logging.INFO, logger="jaan.access"):
        await client.get("/api/health")
        assert not await access_lines(caplog, 1)


async def test_json_lines_carry_the_access_fields_as_keys(make_client, caplog):
    client = await make_client(access_log=True)
    with caplog.at_level(logging.INFO, logger="jaan.access"):
        await client.get("/api/health", headers={"X-Request-ID": "rid-json"})
        (record,) = await access_lines(caplog, 1)
    line = json.loads(JsonFormatter().format(record))
    assert line["path"] == "/api/health" and line["status"] == 200 and line["request_id"] == "rid-json"
    assert line["time"].endswith("Z") and line["level"] == "INFO"
