"""The request timeout cancels the handler, its SQL on the server, and its transaction."""

from __future__ import annotations

import asyncio
import uuid

import psycopg2

from jaan.web.pipeline import PIPELINE
from tests.probes import sleeping_statements
from tests.waiting import eventually


def _rows_with_note(dsn: str, note: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM probe_writes WHERE note = %s", (note,))
        (count,) = cur.fetchone()
    conn.close()
    return int(count)


async def test_slow_handler_gets_503_request_timed_out(make_client):
    client = await make_client(request_timeout=0.3)
    response = await client.get("/probe/sleep", params={"seconds": "60"})  # uncut, it would answer 200
    assert response.status == 503
    assert response.content_type == "application/json"
    assert await response.json() == {"success": False, "error": "Request timed out"}


async def test_timeout_rolls_back_and_cancels_the_statement_on_the_server(make_client, probe_database):
    client = await make_client(request_timeout=0.5)
    note = uuid.uuid4().hex
    response = await client.post("/probe/write-then-sleep", params={"note": note, "seconds": "30"})
    assert response.status == 503
    assert (await response.json())["error"] == "Request timed out"
    # The server notices the closed connection within client_connection_check_interval (1 s).
    await eventually(lambda: sleeping_statements(probe_database) == 0)
    assert _rows_with_note(probe_database, note) == 0


async def test_fast_request_is_untouched_by_the_timeout(make_client):
    client = await make_client(request_timeout=30)
    response = await client.get("/probe/sleep", params={"seconds": "0.05"})
    assert response.status == 200


async def test_one_timer_watches_the_running_requests_and_none_is_left_when_they_are_done(make_client):
    client = await make_client(request_timeout=0.5)
    deadlines = client.app[PIPELINE].deadlines
    fast, slow = await asyncio.gather(
        client.get("/probe/sleep", params={"seconds": "0.05"}), client.get("/probe/sleep", params={"seconds": "60"})
    )
    assert (fast.status, slow.status) == (200, 503)
    assert not deadlines.running
    # Idle, the sweep stops rescheduling itself; the next request starts it again.
    await eventually(lambda: deadlines._check is None)
    assert (await client.get("/probe/sleep", params={"seconds": "60"})).status == 503
