"""Test-session fixtures: one real PostgreSQL for the whole run, a fresh database per need."""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from aiohttp.test_utils import TestClient, TestServer

from jaan.db.embedded import EmbeddedPostgres
from jaan.settings import Settings

# Durability is not under test: these make the throwaway cluster several times faster.
FAST = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

# `make test` runs the suite in two processes (pytest-xdist, `-n 2 --dist loadgroup`): most tests wait
# on processes and sockets, so the other process fills the idle core. Each process has its own session
# fixtures (a PostgreSQL cluster, templates). The tests of one group run in one process, in file order:
#   rehearsal: the package-wide loopback rehearsal (tests/deploy/conftest.py) is started once, and
#              test_zz_host_failure still runs last against it;
#   busy_cores: the runs that keep both cores busy by design (the perf suite, the events scale, the
#              schemathesis pass) run one after another rather than against each other, the perf
#              module's one quick run serving its tests; handed out first, they do not end the run late.
XDIST_GROUPS = {
    "tests/deploy/": "rehearsal",
    "tests/perf/test_perf_run.py::": "busy_cores",
    "tests/perf/test_events_scale.py::": "busy_cores",
    "tests/test_schemathesis.py::": "busy_cores",
}


def xdist_group(nodeid: str) -> str | None:
    """The group a test belongs to (by where it is), if any."""
    return next((group for prefix, group in XDIST_GROUPS.items() if nodeid.startswith(prefix)), None)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """--dist loadgroup by XDIST_GROUPS: xdist's own (xdist_group marks) sees no mark under pytest 9,
    which no longer takes the node id xdist rewrites, so it silently shares every test out singly."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class ByGroup(LoadGroupScheduling):  # type: ignore[misc]
        def _split_scope(self, nodeid: str) -> str:
            return xdist_group(nodeid) or nodeid

    return ByGroup(config, log)


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


@contextmanager
def new_database(server_dsn: str, template: str = "template1") -> Iterator[str]:
    """A new database (a copy of `template`) while the block runs; dropped afterwards."""
    name = f"jaan_test_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield with_dbname(server_dsn, name)
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


@pytest.fixture
def empty_database(server_dsn: str) -> Iterator[str]:
    """A new, empty database for one test; dropped afterwards."""
    with new_database(server_dsn) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def migrated_template(server_dsn: str) -> Iterator[str]:
    """The name of a database with every migration applied that nothing connects to: only copied."""
    from jaan.db.migrations import apply_migrations

    with new_database(server_dsn) as dsn:
        apply_migrations(dsn)
        yield str(psycopg2.extensions.parse_dsn(dsn)["dbname"])


@pytest.fixture
def shop_database(server_dsn: str, migrated_template: str) -> Iterator[str]:
    """A new database with every migration applied, for one test; dropped afterwards.

    A copy of :func:`migrated_template` (a fifth of the time applying the migrations takes):
    for the tests that need the shop's tables in a database of their own, not the migrations.
    """
    with new_database(server_dsn, template=migrated_template) as dsn:
        yield dsn


@pytest.fixture(scope="session")
def migrated_database(server_dsn: str) -> Iterator[str]:
    """One database with every migration applied, shared by the tests that only read or add rows."""
    from jaan.db.migrations import apply_migrations

    name = f"jaan_test_main_{uuid.uuid4().hex[:8]}"
    admin = psycopg2.connect(server_dsn)
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    dsn = with_dbname(server_dsn, name)
    apply_migrations(dsn)
    try:
        yield dsn
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def settings_for_tests(dsn: str, **overrides: object) -> Settings:
    """Settings for an in-process app: this environment ignored, small pools."""
    values: dict[str, object] = {
        "database_url": dsn,
        "pool_min": 1,
        "pool_max": 4,
        "access_log": False,
        "password_cost": TEST_PASSWORD_COST,
        # Every in-process test signs up from 127.0.0.1: the abuse tests set their own limits.
        "signup_max_per_address": 1_000_000,
        "contact_max_per_address": 1_000_000,
    }
    values.update(overrides)
    return Settings.from_env({}, **values)


@pytest.fixture(scope="session")
def probe_database(migrated_database: str) -> str:
    """The migrated database plus the table the probe routes write to."""
    with psycopg2.connect(migrated_database) as conn, conn.cursor() as cur:
        cur.execute("CREATE TABLE IF NOT EXISTS probe_writes (id serial PRIMARY KEY, note text NOT NULL)")
    conn.close()
    return migrated_database


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The data directory of in-process apps (uploads land here, not in the checkout's var/)."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def make_client(aiohttp_client: Any, probe_database: str, data_dir: Path) -> Callable[..., Awaitable[TestClient]]:
    """Build the real app (every middleware, a real pool) with the probe routes, on a real socket."""
    from jaan.app import ROUTE_TABLES, create_app
    from jaan.web.access_log import access_log_options
    from tests.probes import probes

    async def make(**overrides: object) -> TestClient:
        settings = settings_for_tests(probe_database, **{"data_dir": data_dir, **overrides})
        app = create_app(settings, probe_database, route_tables=[*ROUTE_TABLES, probes])
        with_answer_checks(app)
        server = TestServer(app)
        # The runner options production uses (pytest-aiohttp does not pass server_kwargs on).
        await server.start_server(**access_log_options(settings.access_log))
        client: TestClient = await aiohttp_client(server)
        return client

    return make


def with_answer_checks(app: Any) -> None:
    """Check every answer `app` gives against the OpenAPI document (see tests/answers.py)."""
    from jaan.web.pipeline import PIPELINE
    from tests.answers import check_answer, share_document

    share_document(app)
    app[PIPELINE].answer_observers.append(check_answer)


@pytest.fixture(autouse=True)
def answers_match_the_document() -> Iterator[None]:
    """Fail the test whose requests got an answer the OpenAPI document does not describe."""
    from tests.answers import VIOLATIONS

    VIOLATIONS.clear()
    yield
    found, VIOLATIONS[:] = list(VIOLATIONS), []
    assert not found, "answers that break the OpenAPI document:\n" + "\n".join(dict.fromkeys(found))


TEST_PASSWORD_COST = 10  # scrypt at 2**10: fast tests, same code path


@dataclass(frozen=True)
class Account:
    """A user made directly in the database, with a live session."""

    id: uuid.UUID
    email: str
    password: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def make_account(probe_database: str) -> Callable[..., Account]:
    """Create accounts (role user, moderator or admin) with a session, as sign-up and sign-in would."""
    from jaan.shop.accounts.passwords import hash_password_sync
    from jaan.shop.accounts.sessions import hash_token, new_token

    def make(role: str = "user", email: str | None = None, password: str = "correct horse battery") -> Account:
        email = email or f"{role}-{uuid.uuid4().hex[:10]}@example.com"
        token = new_token()
        with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
            cur.execute(
                "INSERT INTO users (email, password_hash, full_name, role, email_confirmed_at)"
                " VALUES (%s, %s, %s, %s, now()) RETURNING id",
                (email, hash_password_sync(password, TEST_PASSWORD_COST), f"Test {role.title()}", role),
            )
            (user_id,) = cur.fetchone()
            cur.execute(
                "INSERT INTO sessions (user_id, token_hash, expires_at) VALUES (%s, %s, now() + interval '1 day')",
                (user_id, hash_token(token)),
            )
        conn.close()
        return Account(uuid.UUID(str(user_id)), email, password, role, token)

    return make


@pytest.fixture
def admin(make_account: Callable[..., Account]) -> Account:
    return make_account("admin")


@pytest.fixture
def customer(make_account: Callable[..., Account]) -> Account:
    return make_account("user")
