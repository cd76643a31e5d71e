"""schemathesis against the generated OpenAPI document (issue 10's "done when").

The real app on a real socket and a freshly seeded database; schemathesis (its CLI, so its blocking
HTTP client runs in its own process while this event loop serves) generates positive and negative
requests for every operation with an admin token and checks: no answer >= 500, every status and
body as documented, Allow headers as documented, nothing accepted that the document forbids.  Every
answer is also checked by the suite's own hook (tests/answers.py).

Bounded by work, not by time: one coverage pass and 10 fuzzed cases per operation, from a fixed seed.
A time budget (--max-time) makes schemathesis repeat fuzzing until the budget is spent, so the run
took all of it on any machine, and on a busy one the budget ended before every operation had had
its cases (the time limit stops the coverage phase too); this way every operation gets the same
cases everywhere, and the report must show every selected operation tested.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg2
import pytest
from aiohttp.test_utils import TestServer

from jaan.app import create_app
from jaan.db.migrations import apply_migrations
from tests.conftest import TEST_PASSWORD_COST, settings_for_tests, with_answer_checks

ROOT = Path(__file__).resolve().parents[1]
SEED = "20261129"
PATIENCE_SECONDS = 1200  # for the whole pass: about 1.5 minutes on a quiet machine, 15+ on an overloaded one
# Checks that need a world schemathesis cannot see: "valid" ids that do not exist answer 404/409
# (positive_data_acceptance), and one account cannot show another's objects (object_level_authorization).
SKIPPED_CHECKS = "positive_data_acceptance,object_level_authorization"


def _seed(dsn: str) -> str:
    """A small demo shop and an admin's bearer token."""
    env = {**os.environ, "DATABASE_URL": dsn, "JAAN_PASSWORD_COST": str(TEST_PASSWORD_COST)}
    small = ["--products", "40", "--customers", "5", "--orders", "20", "--invoices", "5", "--purchase-orders", "3"]
    subprocess.run([sys.executable, str(ROOT / "bin" / "seed"), *small], env=env, check=True, timeout=300)
    token = f"schemathesis-{uuid.uuid4().hex}"
    from jaan.shop.accounts.passwords import hash_password_sync
    from jaan.shop.accounts.sessions import hash_token

    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(
            "INSERT INTO users (email, password_hash, full_name, role) VALUES (%s, %s, 'Fuzz', 'admin') RETURNING id",
            ("fuzz@example.com", hash_password_sync("fuzz password 1", TEST_PASSWORD_COST)),
        )
        (user_id,) = cur.fetchone()
        # A long session: no sign-out is generated (see below), and role changes need this admin's id.
        cur.execute(
            "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
            (user_id, hash_token(token)),
        )
    conn.close()
    return token


@pytest.mark.timeout(PATIENCE_SECONDS + 300)
async def test_schemathesis_finds_no_server_error_and_no_answer_the_document_does_not_describe(
    aiohttp_client, empty_database, data_dir, tmp_path
):
    apply_migrations(empty_database)
    token = await asyncio.to_thread(_seed, empty_database)
    app = create_app(settings_for_tests(empty_database, data_dir=data_dir), empty_database)
    with_answer_checks(app)
    client = await aiohttp_client(TestServer(app, host="127.0.0.1"))
    base = f"http://127.0.0.1:{client.port}"
    command = [
        str(Path(sys.executable).parent / "st"),
        "run",
        f"{base}/api/openapi.json",
        "--url",
        base,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        "--exclude-checks",
        SKIPPED_CHECKS,
        # Signing out would end the token every other request uses; an event stream never ends.
        "--exclude-path",
        "/api/auth/signout",
        "--exclude-path-regex",
        "/events$",
        "--seed",
        SEED,
        "--phases",
        "coverage,fuzzing",
        "--max-examples",
        "10",
        "--workers",
        "1",
        "--generation-database",
        "none",
        "--no-color",
        "--report",
        "junit",
        "--report-dir",
        str(tmp_path),
    ]
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, cwd=tmp_path
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=PATIENCE_SECONDS)
    report = output.decode(errors="replace")
    assert process.returncode == 0, report[-20_000:]
    selected = re.search(r"Selected: (\d+)/\d+\s+Tested: (\d+)", report)
    assert selected is not None and selected.group(1) == selected.group(2), report[-5_000:]
