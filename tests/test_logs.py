"""Log lines carry the process and the request id; JSON lines when configured."""

from __future__ import annotations

import io
import json
import logging

import pytest

from jaan import logs


@pytest.fixture
def log_stream():
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    stream = io.StringIO()
    yield stream
    root.handlers[:], root.level = saved


async def test_lines_written_while_handling_a_request_carry_its_id(make_client, log_stream):
    logs.configure("INFO", json_lines=False, stream=log_stream)
    client = await make_client()
    await client.get("/probe/boom", headers={"X-Request-ID": "rid-in-logs"})
    text = log_stream.getvalue()
    assert "rid=rid-in-logs" in text and "unhandled error" in text and "Traceback" in text


async def test_json_lines_when_configured(make_client, log_stream):
    logs.configure("INFO", json_lines=True, stream=log_stream)
    client = await make_client()
    await client.get("/probe/boom", headers={"X-Request-ID": "rid-json-log"})
    entries = [json.loads(line) for line in log_stream.getvalue().splitlines()]
    error = next(e for e in entries if e["level"] == "ERROR")
    assert error["request_id"] == "rid-json-log"
    assert "RuntimeError" in error["traceback"]
    assert error["pid"] > 0
