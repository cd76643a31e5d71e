"""The statements that cost the database the most time, from pg_stat_statements (``bin/serve status --queries``)."""

from __future__ import annotations

import re
from typing import Any

import psycopg2
import psycopg2.errors
import psycopg2.extras


class StatementsUnavailable(RuntimeError):
    pass


TOP_STATEMENTS = """
SELECT calls, round(total_exec_time::numeric, 1) AS total_ms, round(mean_exec_time::numeric, 2) AS mean_ms,
       rows, query
FROM pg_stat_statements
WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
ORDER BY total_exec_time DESC
LIMIT %s
"""


def top_statements(dsn: str, limit: int = 10) -> list[dict[str, Any]]:
    """The ``limit`` statements of this database with the most total execution time."""
    conn = psycopg2.connect(dsn, connect_timeout=5)
    try:
        with conn.cursor(cursor_factory=psycopg2.extras.RealDictCursor) as cur:
            cur.execute(TOP_STATEMENTS, (limit,))
            return [
                {**row, "total_ms": float(row["total_ms"]), "mean_ms": float(row["mean_ms"])} for row in cur.fetchall()
            ]
    except psycopg2.errors.UndefinedTable:
        raise StatementsUnavailable(
            "pg_stat_statements is not installed in this database: load it in shared_preload_libraries "
            "and run CREATE EXTENSION pg_stat_statements (the embedded PostgreSQL does both)"
        ) from None
    except psycopg2.errors.ObjectNotInPrerequisiteState:
        raise StatementsUnavailable("pg_stat_statements is installed but not in shared_preload_libraries") from None
    finally:
        conn.close()


def format_statements(rows: list[dict[str, Any]], width: int = 100) -> str:
    """A table, most expensive first; each statement on one line, cut to ``width`` characters."""
    lines = [f"{'calls':>8}  {'total ms':>10}  {'mean ms':>9}  {'rows':>8}  statement"]
    for row in rows:
        text = re.sub(r"\s+", " ", row["query"]).strip()
        if len(text) > width:
            text = text[: width - 1] + "…"
        lines.append(f"{row['calls']:>8}  {row['total_ms']:>10.1f}  {row['mean_ms']:>9.2f}  {row['rows']:>8}  {text}")
    return "\n".join(lines)
