"""A request slower than slow_request_time logs one line: request id, route, total and SQL time."""

from __future__ import annotations

import logging
import re

SLOW = re.compile(
    r"^slow request rid=(?P<rid>\S+) GET /probe/sql-sleep -> 200: (?P<total>[\d.]+)s total, "
    r"(?P<sql>[\d.]+)s in SQL \((?P<statements>\d+) statements\)$"
)


async def test_a_slow_request_logs_one_line_with_its_request_id_route_total_and_sql_time(make_client, caplog):
    client = await make_client(slow_request_time=0.2)
    caplog.set_level(logging.WARNING, logger="jaan.slow")
    response = await client.get("/probe/sql-sleep", params={"seconds": "0.3"}, headers={"X-Request-ID": "slow-1"})
    assert response.status == 200
    lines = [record.getMessage() for record in caplog.records if record.name == "jaan.slow"]
    assert len(lines) == 1, lines
    found = SLOW.match(lines[0])
    assert found is not None, lines[0]
    assert found["rid"] == "slow-1"
    assert float(found["sql"]) >= 0.3 and float(found["total"]) >= float(found["sql"])
    assert int(found["statements"]) >= 1


async def test_a_fast_request_logs_nothing_and_sql_time_is_counted_per_request(make_client, caplog):
    client = await make_client(slow_request_time=0.25)
    caplog.set_level(logging.WARNING, logger="jaan.slow")
    # On one keep-alive connection: fast, slow, fast, slow.  Only the slow ones log, each with
    # its own statements (none carried over from the requests before it).
    for seconds in ("0", "0.3", "0", "0.3"):
        response = await client.get("/probe/sql-sleep", params={"seconds": seconds})
        assert response.status == 200
    lines = [SLOW.match(r.getMessage()) for r in caplog.records if r.name == "jaan.slow"]
    assert len(lines) == 2 and all(lines), lines
    assert lines[0]["statements"] == lines[1]["statements"]  # type: ignore[index]
