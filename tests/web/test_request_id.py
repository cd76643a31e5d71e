"""Request ids: the client's when sane, else ours; always echoed."""

from __future__ import annotations

import re


async def test_sane_client_request_id_is_echoed(make_client):
    client = await make_client()
    response = await client.get("/api/health", headers={"X-Request-ID": "web-client.7f3a-01"})
    assert response.headers["X-Request-ID"] == "web-client.7f3a-01"


async def test_missing_request_id_is_generated(make_client):
    client = await make_client()
    response = await client.get("/api/health")
    assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_insane_request_id_is_replaced(make_client):
    client = await make_client()
    for offered in ("has spaces in it", "x" * 500, "<script>"):
        response = await client.get("/api/health", headers={"X-Request-ID": offered})
        assert response.headers["X-Request-ID"] != offered
        assert re.fullmatch(r"[0-9a-f]{32}", response.headers["X-Request-ID"])


async def test_error_responses_carry_the_request_id(make_client):
    client = await make_client()
    response = await client.get("/nowhere", headers={"X-Request-ID": "abc-123"})
    assert response.status == 404
    assert response.headers["X-Request-ID"] == "abc-123"


async def test_each_request_gets_its_own_id(make_client):
    client = await make_client()
    ids = {(await client.get("/api/health")).headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5


def test_forked_workers_number_requests_with_their_own_prefix():
    import os

    from jaan.web import request_id

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report its prefix and leave at once
        os.write(write_end, request_id._prefix.encode())
        os._exit(0)
    os.close(write_end)
    child_prefix = os.read(read_end, 64).decode()
    os.close(read_end)
    os.waitpid(pid, 0)
    assert len(child_prefix) == 16 and child_prefix != request_id._prefix
