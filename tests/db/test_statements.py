"""Slow statements: the embedded cluster loads pg_stat_statements and auto_explain; status --queries lists the top."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg2
import pytest

ROOT = Path(__file__).resolve().parents[2]


def status_queries(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "bin" / "serve"), "status", "--queries", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "DATABASE_URL": dsn},
        timeout=60,
    )


def test_the_embedded_cluster_preloads_the_statistics_and_slow_plan_libraries(server_dsn):
    if os.environ.get("DATABASE_URL"):
        pytest.skip("the test server is not our embedded cluster")
    with psycopg2.connect(server_dsn) as conn, conn.cursor() as cur:
        cur.execute("SHOW shared_preload_libraries")
        assert cur.fetchone() == ("pg_stat_statements,auto_explain",)
        cur.execute("SHOW auto_explain.log_min_duration")
        assert cur.fetchone() == ("1s",)  # slow_statement_time's default
    conn.close()
    # ...and its own database has the view bin/serve status --queries reads.
    with psycopg2.connect(server_dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM pg_extension WHERE extname = 'pg_stat_statements'")
        assert cur.fetchone() == (1,)
    conn.close()


def test_status_queries_lists_the_top_statements_by_total_time(empty_database):
    with psycopg2.connect(empty_database) as conn, conn.cursor() as cur:
        cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        cur.execute("SELECT pg_stat_statements_reset()")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT pg_sleep(0.2), 'the expensive one'")
        for _ in range(3):
            cur.execute("SELECT 'a cheap one'")
    conn.close()

    shown = status_queries(empty_database, "--top", "3")
    assert shown.returncode == 0, shown.stderr
    header, first, *_ = shown.stdout.splitlines()
    assert header.split() == ["calls", "total", "ms", "mean", "ms", "rows", "statement"]
    assert "pg_sleep" in first and first.split()[0] == "1"

    rows = json.loads(status_queries(empty_database, "--json").stdout)
    assert rows[0]["query"].startswith("SELECT pg_sleep") and rows[0]["total_ms"] >= 200
    assert [row["query"] for row in rows if row["calls"] == 3] == ["SELECT $1"]  # constants normalised


def test_status_queries_says_what_is_missing_without_the_extension(empty_database):
    shown = status_queries(empty_database)
    assert shown.returncode == 1
    assert "CREATE EXTENSION pg_stat_statements" in shown.stderr
