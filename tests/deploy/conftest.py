"""One loopback rehearsal of the multi-host deployment (deploy/rehearse) for this directory's tests."""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import psycopg2
import pytest

from jaan.shop.accounts.passwords import hash_password_sync
from jaan.shop.accounts.sessions import hash_token, new_token

ROOT = Path(__file__).resolve().parents[2]
REHEARSE = ROOT / "deploy" / "rehearse"


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    url: str, method: str = "GET", body: bytes | dict[str, Any] | None = None, headers: dict[str, str] | None = None
) -> Answer:
    parts = urlsplit(url)
    headers = dict(headers or {})
    if isinstance(body, dict):
        body = json.dumps(body).encode()
        headers.setdefault("Content-Type", "application/json")
    conn = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=30)
    try:
        conn.request(method, parts.path + (f"?{parts.query}" if parts.query else ""), body=body, headers=headers)
        response = conn.getresponse()
        return Answer(response.status, response.headers, response.read())
    finally:
        conn.close()


def sql(dsn: str, statement: str, params: Any = None) -> list[tuple[Any, ...]] | None:
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(statement, params)
        return cur.fetchall() if cur.description else None


def rehearse(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(REHEARSE), *args], capture_output=True, text=True, timeout=timeout, check=False
    )


@pytest.fixture(scope="package")
def rehearsal() -> Iterator[tuple[Path, dict[str, Any]]]:
    """nginx -> 2 hosts -> PgBouncer -> a primary and a streaming replica, all on 127.0.0.1."""
    directory = Path(tempfile.mkdtemp(prefix="jaan-rehearsal-", dir="/tmp"))
    directory.chmod(0o755)  # the clusters' unprivileged account must reach it
    try:
        result = rehearse("up", str(directory), "--hosts", "2", "--replicas", "1")
        assert result.returncode == 0, result.stdout + result.stderr
        yield directory, json.loads((directory / "topology.json").read_text())
    finally:
        down = rehearse("down", str(directory))
        for log in sorted(directory.glob("host*/serve.log")):  # what the hosts said, for a failing test
            print(f"--- {log}\n{log.read_text(errors='replace')[-5000:]}")
        shutil.rmtree(directory, ignore_errors=True)
        assert down.returncode == 0, down.stdout + down.stderr


@pytest.fixture(scope="package")
def topology(rehearsal: tuple[Path, dict[str, Any]]) -> dict[str, Any]:
    return rehearsal[1]


@pytest.fixture(scope="package")
def admin_token(topology: dict[str, Any]) -> str:
    """An admin with a live session, made in the primary directly."""
    return session_for(topology["primary"]["dsn"], "admin")


def session_for(dsn: str, role: str) -> str:
    token = new_token()
    rows = sql(
        dsn,
        "INSERT INTO users (email, password_hash, full_name, role, email_confirmed_at)"
        " VALUES (%s, %s, 'Rehearsal', %s, now()) RETURNING id",
        (f"{role}-{uuid.uuid4().hex[:8]}@example.com", hash_password_sync("a long password 1", 10), role),
    )
    assert rows
    sql(
        dsn,
        "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
        (rows[0][0], hash_token(token)),
    )
    return token


def make_product(dsn: str, name: str = "Rehearsal rice") -> dict[str, Any]:
    tag = uuid.uuid4().hex[:8]
    rows = sql(
        dsn,
        "INSERT INTO products (name, slug, sku, price, unit, stock_quantity) VALUES (%s, %s, %s, 5, 'kg', 10)"
        " RETURNING id, slug",
        (f"{name} {tag}", f"rehearsal-{tag}", f"SKU-R-{tag}"),
    )
    assert rows
    return {"id": rows[0][0], "slug": rows[0][1]}
