"""The service under test: a scratch data directory, seeded, with an admin, served by ``bin/serve``,
and what the scenarios need from it (sessions, slugs, search terms, stock), taken through its API.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import itertools
import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import psycopg2

from jaan.db.embedded import EmbeddedPostgres
from jaan.settings import Settings, parse_value
from perf import probes

ROOT = Path(__file__).resolve().parent.parent
ADMIN_EMAIL = "perf-admin@example.com"
ADMIN_PASSWORD = "perf admin password"
CUSTOMER_PASSWORD = "customer password"
_PR_SET_PDEATHSIG = 1


class ServiceError(RuntimeError):
    """A step of preparing or running the service failed."""


@dataclass(frozen=True)
class DataSet:
    """What bin/seed makes (issue 7's data set by default)."""

    categories: int = 20
    products: int = 5000
    customers: int = 200
    orders: int = 2000
    invoices: int = 800

    def seed_args(self) -> list[str]:
        """bin/seed's options for this data set."""
        return [
            f"--categories={self.categories}",
            f"--products={self.products}",
            f"--customers={self.customers}",
            f"--orders={self.orders}",
            f"--invoices={self.invoices}",
        ]


FULL = DataSet()
TINY = DataSet(categories=3, products=60, customers=6, orders=20, invoices=5)


def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def free_port_block(size: int, start: int = 20000, stop: int = 32000) -> int:
    """A first port of `size` consecutive free ports below the ephemeral range (aiomonitor's ports).

    The search starts at a random block, so two services placed at once do not pick the same
    one, and ignores sockets in TIME_WAIT (the servers bind with SO_REUSEADDR too): after a run
    at thousands of connections they fill whole stretches of ports for a minute.
    """
    blocks = list(range(start, stop - size, size))
    first = random.randrange(len(blocks))
    for base in blocks[first:] + blocks[:first]:
        try:
            with contextlib.ExitStack() as stack:
                for port in range(base, base + size):
                    sock = stack.enter_context(socket.socket())
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
    raise ServiceError("no free block of ports for aiomonitor")


def clean_env() -> dict[str, str]:
    """The environment for the service's commands: no DATABASE_URL or JAAN_* of the caller's.

    The run measures the defaults on its own scratch database; options go on the command line.
    """
    return {k: v for k, v in os.environ.items() if k != "DATABASE_URL" and not k.startswith("JAAN_")}


def _die_with_us() -> None:
    # A runner killed outright (SIGKILL) must not leave a server behind.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def start_server(
    command: list[str], log_path: Path, timeout: float, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start a server whose stderr goes to `log_path`, and wait for its ``ready:`` line."""
    log = log_path.open("ab")
    process = subprocess.Popen(
        command,
        stdout=log,
        stderr=log,
        env={**clean_env(), **(env or {})},
        cwd=ROOT,
        start_new_session=True,
        preexec_fn=_die_with_us,
    )
    log.close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(line.startswith("ready:") for line in log_path.read_text(errors="replace").splitlines()):
            return process
        if process.poll() is not None:
            raise ServiceError(f"{command[1]} exited {process.returncode}: {_tail(log_path)}")
        time.sleep(0.05)
    stop_process(process, grace=5)
    raise ServiceError(f"{command[1]} not ready within {timeout:.0f} s: {_tail(log_path)}")


def stop_process(process: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM, then SIGKILL after `grace` seconds; safe to call twice."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        process.wait(timeout=10)


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class Service:
    """bin/seed, bin/admin and bin/serve on one scratch data directory."""

    def __init__(self, data_dir: Path, log_dir: Path) -> None:
        self.data_dir = data_dir
        self.log_dir = log_dir
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.command: list[str] = []
        self.accept_queues = "per-worker"  # bin/serve --accept-queues (perf/run --accept-queues)

    def _bin(self, name: str, *args: str, stdin: str | None = None, timeout: float = 300) -> str:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bin" / name), *args, f"--data-dir={self.data_dir}"],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.command_env(),
            cwd=ROOT,
            timeout=timeout,
            check=False,
        )
        with (self.log_dir / f"{name}.log").open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise ServiceError(f"bin/{name} {' '.join(args)} exited {done.returncode}: {done.stderr.strip()[-800:]}")
        return done.stdout

    def command_env(self) -> dict[str, str]:
        """The environment of bin/seed, bin/admin and bin/serve status for this service."""
        return clean_env()

    def seed(self, data: DataSet) -> str:
        """Fill the scratch database; bin/seed's summary."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        return self._bin("seed", *data.seed_args())

    def create_admin(self) -> None:
        """The admin the admin scenarios sign in as (password on stdin, as an operator would)."""
        self._bin("admin", "create", f"--email={ADMIN_EMAIL}", stdin=ADMIN_PASSWORD + "\n")

    def start(self, workers: str, access_log: bool = True, database_url: str | None = None) -> None:
        """``bin/serve --workers W`` on a free port (its defaults: access log on unless told); returns once ready.

        `database_url` serves another service's database (its embedded cluster) instead of this data
        directory's own.
        """
        self.port = free_port()
        slots = (int(workers) if workers.isdigit() else len(os.sched_getaffinity(0))) + 1
        command = [
            sys.executable,
            str(ROOT / "bin" / "serve"),
            f"--data-dir={self.data_dir}",
            "--host=127.0.0.1",
            f"--port={self.port}",
            f"--workers={workers}",
            f"--access-log={'true' if access_log else 'false'}",
            # Its own ports, so a service someone else runs here does not collide with ours.
            f"--monitor-port-base={free_port_block(6 * slots)}",
            "--graceful-timeout=5",
            f"--accept-queues={self.accept_queues}",
        ]
        env = {"DATABASE_URL": database_url} if database_url else None
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.command = command
        self.process = start_server(command, self.log_dir / "serve.log", timeout=120, env=env)

    def settings(self) -> dict[str, Any]:
        """The settings bin/serve runs with: its defaults (no JAAN_* of the caller's) and the flags above."""
        fields = {spec.name: spec for spec in dataclasses.fields(Settings)}
        overrides = {}
        for arg in self.command[2:]:
            name, _, raw = arg.removeprefix("--").partition("=")
            overrides[name.replace("-", "_")] = parse_value(fields[name.replace("-", "_")], raw)
        return Settings.from_env(clean_env(), **overrides).redacted()

    def stop(self) -> None:
        """SIGTERM to the master (its workers and embedded PostgreSQL stop with it)."""
        if self.process is not None:
            stop_process(self.process, grace=20)
            # The embedded PostgreSQL stops with the master; wait for it, so its shutdown does not
            # run into the ceilings measured next.
            deadline = time.monotonic() + 30
            while self.cluster.running_pid() is not None and time.monotonic() < deadline:
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def status(self) -> dict[str, Any]:
        """``bin/serve status --json``."""
        parsed: dict[str, Any] = json.loads(self._bin("serve", "status", "--json", timeout=30))
        return parsed

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Wait until no worker has a request in flight (wrk leaves some behind when it stops).

        Requests queued for a pooled connection are invisible to pg_stat_activity, so the
        workers' own count is asked, through ``bin/serve status``.
        """
        deadline = time.monotonic() + timeout
        previous: tuple[int, int] | None = None
        while time.monotonic() < deadline:
            workers = self.status()["workers"]
            now = (sum(int(w.get("in_flight", 0)) for w in workers), sum(int(w.get("requests", 0)) for w in workers))
            # Workers report once a second: idle means nothing in flight in two reports with no request between.
            if now[0] == 0 and now == previous:
                return
            previous = now
            time.sleep(1.1)
        raise ServiceError(f"requests still in flight {timeout:.0f} s after the load stopped")

    @property
    def cluster(self) -> EmbeddedPostgres:
        return EmbeddedPostgres(self.data_dir)

    @property
    def dsn(self) -> str:
        """The database the service serves (its embedded cluster)."""
        return self.cluster.dsn

    def metrics_urls(self) -> list[str]:
        """Where its /metrics answer (the whole service: every worker's counts)."""
        return [self.url]

    def processes(self) -> probes.Processes:
        """The master and its workers, for the samplers (not the embedded PostgreSQL, also its child)."""
        return probes.ServerProcesses(int(self.status()["master"]["pid"]), prefix="jaan:")

    def remove_data(self) -> None:
        """Delete the scratch database (and the cluster, when it had to live outside the data directory)."""
        pointer = self.data_dir / "postgres.location"
        if pointer.exists():
            shutil.rmtree(pointer.read_text().strip(), ignore_errors=True)
        shutil.rmtree(self.data_dir, ignore_errors=True)


def budget_of(status: dict[str, Any]) -> dict[str, int]:
    """The connection budget from ``status --json``: total, workers, pool max, and the pools' connections."""
    text = status["master"]["budget"]
    total = re.search(r"connection budget (\d+)", text)
    pool = re.search(r"pool min (\d+) max (\d+)", text)
    workers = int(status["master"]["workers_wanted"])
    pool_max = int(pool.group(2)) if pool else 0
    return {
        "total": int(total.group(1)) if total else 0,
        "workers": workers,
        "pool_max": pool_max,
        "pool_connections": workers * pool_max,
    }


# -- through the API -------------------------------------------------------------------------------


@dataclass
class Inputs:
    """What the scenarios' scripts read: sessions, product ids, paths of searches and product pages."""

    admin_token: str
    customer_tokens: list[str]
    order_product_ids: list[int]
    slug_paths: list[str]
    search_paths: list[str]
    browse_paths: list[str]


async def _signin(session: aiohttp.ClientSession, base: str, email: str, password: str) -> str:
    async with session.post(f"{base}/api/auth/signin", json={"email": email, "password": password}) as response:
        body = await response.json()
        if response.status != 200:
            raise ServiceError(f"sign-in of {email}: {response.status} {body}")
        return str(body["session"]["token"])


def _page(body: dict[str, Any]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The rows and paging of a list answer (tolerating ``data`` nested one level, as a mid-change app may)."""
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        return data["data"], data
    return list(data or []), body


async def _catalogue(session: aiohttp.ClientSession, base: str, limit: int) -> list[dict[str, Any]]:
    """Live products (id, slug, name) through the public list, 100 a page, up to `limit`."""
    products: list[dict[str, Any]] = []
    page = 1
    while len(products) < limit:
        async with session.get(f"{base}/api/products", params={"per_page": "100", "page": str(page)}) as response:
            body = await response.json()
            if response.status != 200:
                raise ServiceError(f"product list page {page}: {response.status} {body}")
        rows, paging = _page(body)
        products += rows
        if page >= int(paging.get("total_pages", page)) or not rows:
            break
        page += 1
    return products[:limit]


def search_terms(names: list[str], limit: int = 600) -> list[str]:
    """Many different terms from the product names: single words, and two-word phrases."""
    words: dict[str, None] = {}
    phrases: dict[str, None] = {}
    for name in names:
        parts = [part for part in re.findall(r"[A-Za-z]+", name.lower()) if len(part) >= 3]
        for part in parts:
            words.setdefault(part, None)
        for first, second in itertools.pairwise(parts):
            phrases.setdefault(f"{first} {second}", None)
    terms = list(words) + list(phrases)
    return terms[:limit]


async def _prepare(base: str, customers: int, order_products: int, stock: int) -> Inputs:
    timeout = aiohttp.ClientTimeout(total=60)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        admin = await _signin(session, base, ADMIN_EMAIL, ADMIN_PASSWORD)
        tokens = [
            await _signin(session, base, f"customer{n}@example.com", CUSTOMER_PASSWORD) for n in range(1, customers + 1)
        ]
        products = await _catalogue(session, base, limit=5000)
        if not products:
            raise ServiceError("the catalogue is empty")
        ids = [int(p["id"]) for p in products[:order_products]]
        headers = {"Authorization": f"Bearer {admin}"}
        gate = asyncio.Semaphore(8)

        async def restock(product_id: int) -> None:
            body = {
                "productId": product_id,
                "adjustmentType": "restock",
                "quantityChange": stock,
                "reason": "perf: stock for the order scenarios",
            }
            async with gate, session.post(f"{base}/api/admin/inventory/adjust", json=body, headers=headers) as response:
                if response.status != 200:
                    raise ServiceError(f"stock adjustment of product {product_id}: {response.status}")

        await asyncio.gather(*(restock(product_id) for product_id in ids))
        async with session.get(f"{base}/api/categories") as response:
            categories = [int(c["id"]) for c in _page(await response.json())[0]]
    terms = search_terms([str(p["name"]) for p in products])
    search = [f"/api/products?search={quote(term)}&page=2" for term in terms]
    slugs = [f"/api/products/slug/{quote(str(p['slug']))}" for p in products]
    browse = ["/api/categories", "/api/products"] * 10
    browse += [f"/api/products?page={page}" for page in range(2, 6)]
    browse += [f"/api/products?category_id={category}" for category in categories]
    browse += [f"/api/products?category_id={category}&sort_by=price_asc" for category in categories]
    browse += search[:100]
    return Inputs(admin, tokens, ids, slugs, search, browse)


def prepare(base: str, customers: int, order_products: int, stock: int) -> Inputs:
    """Sign in the admin and `customers` customers, list the catalogue, and add `stock` units to
    each of the first `order_products` products (the ones the order scenarios buy) through
    POST /api/admin/inventory/adjust, so stock never runs out and every change is in the ledger."""
    return asyncio.run(_prepare(base, customers, order_products, stock))


# -- straight from the database: the "stock exact" check -------------------------------------------


def stock_snapshot(dsn: str, product_ids: list[int]) -> dict[str, Any]:
    """Stock of `product_ids` and the newest order id, read in one snapshot."""
    with contextlib.closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cur:
        cur.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        cur.execute("SELECT id, stock_quantity FROM products WHERE id = ANY(%s)", (product_ids,))
        stock = {int(row[0]): int(row[1]) for row in cur.fetchall()}
        cur.execute("SELECT coalesce(max(id), 0) FROM orders")
        last_order = int(cur.fetchone()[0])
        cur.execute("COMMIT")
    return {"stock": stock, "last_order": last_order}


def wait_quiet(dsn: str, timeout: float = 10.0) -> None:
    """Wait until no backend of ours is inside a statement or transaction (the last orders are committed)."""
    deadline = time.monotonic() + timeout
    quiet = 0
    with contextlib.closing(psycopg2.connect(dsn)) as connection:
        connection.autocommit = True
        while time.monotonic() < deadline and quiet < 2:
            with connection.cursor() as cur:
                cur.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() AND backend_type = 'client backend'"
                    " AND state NOT IN ('idle') AND query NOT ILIKE 'LISTEN%'"
                )
                busy = int(cur.fetchone()[0])
            quiet = quiet + 1 if busy == 0 else 0
            time.sleep(0.05)


def stock_check(dsn: str, before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stock before − units sold by the orders created in between == stock after, for every product."""
    with contextlib.closing(psycopg2.connect(dsn)) as connection, connection.cursor() as cur:
        cur.execute(
            "SELECT product_id, sum(quantity) FROM order_items WHERE order_id > %s AND order_id <= %s"
            " AND product_id = ANY(%s) GROUP BY product_id",
            (before["last_order"], after["last_order"], list(before["stock"])),
        )
        sold = {int(row[0]): int(row[1]) for row in cur.fetchall()}
        cur.execute(
            "SELECT count(*) FROM orders WHERE id > %s AND id <= %s", (before["last_order"], after["last_order"])
        )
        created = int(cur.fetchone()[0])
    wrong = [pid for pid, quantity in before["stock"].items() if quantity - sold.get(pid, 0) != after["stock"].get(pid)]
    return {
        "stock_exact": not wrong,
        "orders_created": created,
        "units_sold": sum(sold.values()),
        "stock_wrong_products": wrong[:20],
    }
