"""Payload limits hold for every way of reading a body, before the body is buffered."""

from __future__ import annotations

import asyncio

from tests.waiting import PATIENCE

MB = 1024 * 1024


async def _chunks(total: int, size: int = 64 * 1024):
    sent = 0
    while sent < total:
        yield b"x" * min(size, total - sent)
        sent += size
        await asyncio.sleep(0)


async def test_declared_oversize_body_is_refused_before_it_is_read(make_client):
    client = await make_client()
    # Promise 2 MB but send nothing: the answer cannot have waited for the body.
    reader, writer = await asyncio.open_connection(client.host, client.port)
    writer.write(
        b"POST /probe/order HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2097152\r\n\r\n"
    )
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), PATIENCE)
    writer.close()
    assert b" 413 " in status_line


async def test_chunked_body_read_through_request_content_is_limited(make_client):
    client = await make_client()
    response = await client.post("/probe/stream", data=_chunks(2 * MB))
    assert response.status == 413
    assert response.content_type == "application/json"


async def test_chunked_body_under_the_limit_streams_through(make_client):
    client = await make_client()
    response = await client.post("/probe/stream", data=_chunks(512 * 1024))
    assert response.status == 200
    assert await response.json() == {"success": True, "data": {"bytes": 512 * 1024}}


async def test_route_declared_limit_allows_larger_uploads(make_client):
    client = await make_client()
    response = await client.post("/probe/upload", data=_chunks(2 * MB))
    assert response.status == 200
    assert (await response.json())["data"] == {"bytes": 2 * MB}


async def test_route_declared_limit_still_refuses_beyond_it(make_client):
    client = await make_client()
    response = await client.post("/probe/upload", data=_chunks(4 * MB))
    assert response.status == 413


async def test_limit_setting_is_honoured(make_client):
    client = await make_client(max_body_size=1000)
    response = await client.post(
        "/probe/order", data=b"{" + b" " * 2000 + b"}", headers={"Content-Type": "application/json"}
    )
    assert response.status == 413
