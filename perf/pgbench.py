"""The database ceiling: pgbench running the product list's and the slug's SQL, nothing else.

The SQL is not copied: it is captured by calling the catalogue's own query functions with a
cursor that records what they would send, then made literal with psycopg2 (the service sends
literal SQL too: psycopg2 interpolates on the client, so pgbench runs in simple-query mode).
The slug's literal (the service reads the product pages a worker misses together, by an array of
slugs: here one) becomes ``(SELECT slug FROM products WHERE id = :id)`` with a random live id, so
the run spreads over every product like the slug scenario, still one round trip each.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any, cast

import psycopg2

from jaan.db.embedded import EmbeddedPostgres, find_binaries

_SLUG_MARK = "perf-slug-placeholder"


class _Recorder:
    """Stands in for jaan.db.pool.Cursor and keeps each statement with its parameters."""

    def __init__(self) -> None:
        self.statements: list[tuple[str, Any]] = []

    async def fetch_all(self, sql: str, params: Any = None) -> list[dict[str, Any]]:
        self.statements.append((sql, params))
        return []

    async def fetch_one(self, sql: str, params: Any = None) -> dict[str, Any]:
        self.statements.append((sql, params))
        return {}

    async def fetch_value(self, sql: str, params: Any = None) -> int:
        self.statements.append((sql, params))
        return 1


async def _capture() -> dict[str, tuple[str, Any]]:
    from jaan.db.pool import Cursor
    from jaan.shop.catalogue import products

    captured = {}
    recorder = _Recorder()
    await products.list_products(cast(Cursor, recorder), products.ProductFilter())
    captured["list"] = recorder.statements[0]
    recorder = _Recorder()
    await products.products_by_slugs(cast(Cursor, recorder), [_SLUG_MARK])
    captured["slug"] = recorder.statements[0]
    return captured


def scripts(dsn: str) -> dict[str, str]:
    """The pgbench scripts ``list`` and ``slug``: the catalogue's SQL as the service sends it."""
    captured = asyncio.run(_capture())
    with contextlib.closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cur:
        literal = {name: cur.mogrify(sql, params).decode() for name, (sql, params) in captured.items()}
        cur.execute("SELECT min(id), max(id) FROM products WHERE archived_at IS NULL")
        low, high = cur.fetchone()
    slug = literal["slug"].replace(f"'{_SLUG_MARK}'", "(SELECT slug FROM products WHERE id = :id)")
    one_line = {name: " ".join(sql.split()) for name, sql in (("list", literal["list"]), ("slug", slug))}
    return {
        "list": one_line["list"] + ";\n",
        "slug": f"\\set id random({low or 1}, {high or 1})\n" + one_line["slug"] + ";\n",
    }


def pgbench_binary() -> Path | None:
    """pgbench next to the server binaries the embedded cluster uses, else on PATH."""
    with contextlib.suppress(Exception):
        candidate = find_binaries() / "pgbench"
        if candidate.exists():
            return candidate
    found = shutil.which("pgbench")
    return Path(found) if found else None


def run(
    database: EmbeddedPostgres | str, script: str, clients: int, threads: int, duration: float, work: Path
) -> dict[str, Any]:
    """Run one script for `duration` seconds at `clients` connections; tps and latency percentiles (ms).

    `database`: the embedded cluster (its socket), or a PostgreSQL URL (a rehearsal's primary).
    """
    binary = pgbench_binary()
    if binary is None:
        raise RuntimeError("pgbench not found (it comes with the PostgreSQL server package)")
    work.mkdir(parents=True, exist_ok=True)
    for old in work.glob("pgbench_log*"):
        old.unlink()
    (work / "script.sql").write_text(script)
    command = [
        str(binary),
        "--no-vacuum",
        "--protocol=simple",
        f"--client={clients}",
        f"--jobs={max(1, min(threads, clients))}",
        f"--time={max(1, round(duration))}",
        "--file=script.sql",
        "--log",
        # A URL as the database name is a connection string to libpq.
        *(
            [database]
            if isinstance(database, str)
            else [f"--host={database.socket_dir}", "--port=5432", "--username=jaan", "jaan"]
        ),
    ]
    done = subprocess.run(
        command, cwd=work, capture_output=True, text=True, timeout=duration + 60, check=False, start_new_session=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"pgbench exited {done.returncode}: {done.stderr.strip()[-600:]}")
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    failed = re.search(r"number of failed transactions: (\d+)", done.stdout)
    latencies: list[int] = []
    for log in work.glob("pgbench_log*"):
        for line in log.read_text().splitlines():
            fields = line.split()
            if len(fields) >= 3:
                latencies.append(int(fields[2]))
    latencies.sort()

    def percentile(share: float) -> float:
        if not latencies:
            return 0.0
        return round(latencies[min(len(latencies) - 1, int(share * len(latencies)))] / 1000, 2)

    return {
        "clients": clients,
        "duration_s": duration,
        "transactions": len(latencies),
        "tps": round(float(tps.group(1)), 1) if tps else 0.0,
        "failed": int(failed.group(1)) if failed else 0,
        "latency_ms": {"p50": percentile(0.50), "p90": percentile(0.90), "p99": percentile(0.99)},
    }
