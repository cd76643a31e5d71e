"""One access-log line per request, as text or as a JSON line, batched off the request path and escaped."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re

import pytest

from jaan import logs
from jaan.logs import JsonFormatter
from jaan.web.access_log import escape


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


@pytest.fixture
def log_stream():
    """The service's own logging (logs.configure) into a buffer: the access log's direct path."""
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:], root.level = saved


async def written_lines(stream: io.StringIO, count: int) -> list[str]:
    """The access-log lines written so far, once there are `count` (a timer writes them in batches)."""
    for _ in range(200):
        lines = [line for line in stream.getvalue().splitlines() if "jaan.access" in line]
        if len(lines) >= count:
            return lines
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} access-log lines in:\n{stream.getvalue()}")


async def test_lines_are_written_in_the_text_form_of_every_log_line(make_client, log_stream):
    logs.configure("INFO", json_lines=False, stream=log_stream)
    client = await make_client(access_log=True)
    await client.get("/api/health", headers={"X-Request-ID": "rid-text-1"})
    (line,) = await written_lines(log_stream, 1)
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} INFO \[main pid=\d+ rid=rid-text-1\] jaan\.access: "
        r'127\.0\.0\.1 "GET /api/health" 200 \d+B [\d.]+ms rid=rid-text-1',
        line,
    ), line


async def test_a_control_character_in_the_path_cannot_start_a_log_line(make_client, log_stream):
    logs.configure("INFO", json_lines=False, stream=log_stream)
    client = await make_client(access_log=True)
    await client.get("/api/xx%0aFORGED-LOG-LINE%0d%1b[31m%E2%80%A8x", headers={"X-Request-ID": "rid-forged"})
    await written_lines(log_stream, 1)
    text = log_stream.getvalue()
    assert not any(line.startswith("FORGED") for line in text.splitlines())
    assert not any(ch in text.replace("\n", "") for ch in "\r\x1b\u2028")
    assert '"GET /api/xx\\x0aFORGED-LOG-LINE\\x0d\\x1b[31m\\u2028x" 404' in text


async def test_json_lines_escape_too_and_keep_the_fields(make_client, log_stream):
    logs.configure("INFO", json_lines=True, stream=log_stream)
    client = await make_client(access_log=True)
    await client.get("/api/xx%0aFORGED", headers={"X-Request-ID": "rid-json-2"})
    (line,) = await written_lines(log_stream, 1)
    entry = json.loads(line)
    assert entry["path"] == "/api/xx\\x0aFORGED" and entry["status"] == 404
    assert entry["request_id"] == "rid-json-2" and entry["logger"] == "jaan.access" and entry["level"] == "INFO"
    assert entry["time"].endswith("Z") and entry["bytes"] > 0 and entry["duration_ms"] >= 0
    assert {"method", "remote", "message", "pid", "process"} <= set(entry)


def test_escape_leaves_printable_text_alone():
    assert escape("/api/products/café") == "/api/products/café"
    assert escape("a\x00b\x7fc\x85d") == "a\\x00b\\x7fc\\x85d"
