"""Test-session fixtures: one real PostgreSQL for the whole run, a fresh database per need."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from jaan.db.embedded import EmbeddedPostgres

# Durability is not under test: these make the throwaway cluster several times faster.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@pytest.fixture(scope="session")
def server_dsn() -> Iterator[str]:
    """A DSN for a PostgreSQL server this test session may create databases on.

    DATABASE_URL when given; else a throwaway cluster started by the test session
    (outside pytest's 0700 tmp directories, so an unprivileged server account can reach it).
    """
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    root = Path(tempfile.mkdtemp(prefix="jaan-test-pg-", dir="/tmp"))
    root.chmod(0o755)
    cluster = EmbeddedPostgres(root, max_connections=300, options=FAST)
    cluster.start()
    try:
        yield cluster.dsn
    finally:
        cluster.stop()
        shutil.rmtree(cluster.root, ignore_errors=True)
        shutil.rmtree(root, ignore_errors=True)


def with_dbname(dsn: str, name: str) -> str:
    """The same server, another database (a URL or a keyword DSN alike)."""
    return str(psycopg2.extensions.make_dsn(dsn, dbname=name))


@pytest.fixture
def empty_database(server_dsn: str) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    name = f"jaan_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_dbname(server_dsn, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
