"""``perf/run --topology DIR``: the scenarios through a running rehearsal (``deploy/rehearse up DIR``).

The rehearsal is not ours: perf/run neither starts nor stops any of it. It reads
``DIR/topology.json``, seeds the rehearsal's database through the primary (unless it holds the
seeded shop already), and points wrk at nginx, or at one host directly (``--direct``), so that
the cost nginx adds per request can be read off the same scenario measured both ways. Each host
is asked for its workers with ``bin/serve status --json --data-dir <its data dir>``.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg2

from perf import probes
from perf.service import ROOT, DataSet, Service, ServiceError, clean_env

# bin/seed's customers are customer1..N@example.com: their presence says the shop is seeded already.
SEEDED_CUSTOMER = "customer1@example.com"


@dataclass(frozen=True)
class Host:
    """One app host of the rehearsal: its own URL (no nginx) and its data directory (control socket)."""

    index: int
    url: str
    data_dir: Path


def read_topology(directory: Path) -> dict[str, Any]:
    """DIR/topology.json, or a ServiceError that says how to make one."""
    path = directory / "topology.json"
    try:
        topology: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        raise ServiceError(f"no {path}: bring a rehearsal up first (deploy/rehearse up {directory})") from None
    missing = [key for key in ("url", "hosts", "primary", "nginx") if key not in topology]
    if missing:
        raise ServiceError(f"{path} lacks {', '.join(missing)}: was it written by deploy/rehearse up?")
    return topology


def direct_hosts(wanted: str, hosts: int) -> list[int]:
    """--direct's host indices: '' none, 'all' every host, else a comma-separated list of indices."""
    if not wanted:
        return []
    if wanted == "all":
        return list(range(hosts))
    try:
        chosen = [int(part) for part in wanted.split(",") if part.strip()]
    except ValueError:
        raise ValueError(f"--direct: all, or host indices such as 0,1 (not {wanted!r})") from None
    wrong = [index for index in chosen if not 0 <= index < hosts]
    if wrong:
        raise ValueError(f"--direct: the rehearsal has hosts 0..{hosts - 1}, not {wrong}")
    return list(dict.fromkeys(chosen))


class Rehearsal(Service):
    """A running rehearsal in the place of perf/run's own bin/serve: reached through nginx, or
    through one host (``only``), on the rehearsal's primary."""

    def __init__(self, directory: Path, work_dir: Path, log_dir: Path, only: int | None = None) -> None:
        super().__init__(work_dir, log_dir)
        self.directory = directory
        self.topology = read_topology(directory)
        self.hosts = [
            Host(index, str(host["url"]), Path(host["data_dir"])) for index, host in enumerate(self.topology["hosts"])
        ]
        self.only = only
        if only is not None and not 0 <= only < len(self.hosts):
            raise ServiceError(f"the rehearsal has hosts 0..{len(self.hosts) - 1}, not {only}")

    def host_view(self, index: int) -> Rehearsal:
        """The same rehearsal, reached through host `index` directly (nginx bypassed)."""
        return Rehearsal(self.directory, self.data_dir, self.log_dir / f"host{index}", only=index)

    @property
    def served_by(self) -> list[Host]:
        return self.hosts if self.only is None else [self.hosts[self.only]]

    @property
    def url(self) -> str:
        return str(self.topology["url"]) if self.only is None else self.hosts[self.only].url

    @property
    def dsn(self) -> str:
        return str(self.topology["primary"]["dsn"])

    def describe(self) -> dict[str, Any]:
        """What results.json records of the topology."""
        return {
            "directory": str(self.directory),
            "url": self.topology["url"],
            "hosts": [host.url for host in self.hosts],
            "replicas": len(self.topology.get("replicas", [])),
            "pgbouncer": bool(self.topology.get("pgbouncer")),
        }

    # -- the database ------------------------------------------------------------------------------

    def command_env(self) -> dict[str, str]:
        """bin/seed and bin/admin work on the rehearsal's primary (bin/serve status ignores it)."""
        return {**clean_env(), "DATABASE_URL": self.dsn}

    def contents(self) -> dict[str, int]:
        """Products, non-admin users and orders in the rehearsal's database, and whether it is seeded."""
        with contextlib.closing(psycopg2.connect(self.dsn)) as connection, connection.cursor() as cur:
            cur.execute(
                "SELECT (SELECT count(*) FROM products), (SELECT count(*) FROM users WHERE role <> 'admin'),"
                " (SELECT count(*) FROM orders), (SELECT count(*) FROM users WHERE email = %s)",
                (SEEDED_CUSTOMER,),
            )
            products, users, orders, seeded = cur.fetchone()
        return {"products": products, "users": users, "orders": orders, "seeded": seeded}

    def seed_or_reuse(self, data: DataSet, reset: bool) -> str:
        """Seed the rehearsal's database with `data` when it is empty (or `reset`), keep a seeded one
        as it is; what was done, for the report."""
        found = self.contents()
        if reset:
            self._bin("seed", "--reset", *data.seed_args())
            return "seeded the rehearsal's database with the data set above (--reset-data: its shop data replaced)"
        if found["seeded"]:
            return (
                f"used the shop data already in the rehearsal's database ({found['products']:,} products,"
                f" {found['users']:,} customers, {found['orders']:,} orders): the data set above is not what ran"
            )
        if found["products"] or found["users"] or found["orders"]:
            raise ServiceError(
                f"the rehearsal's database holds {found['products']} products, {found['users']} customers and"
                f" {found['orders']} orders that bin/seed did not write: pass --reset-data to replace them"
            )
        self._bin("seed", *data.seed_args())
        return "seeded the rehearsal's database with the data set above"

    # -- the hosts ---------------------------------------------------------------------------------

    def start(self, workers: str, access_log: bool = True, database_url: str | None = None) -> None:
        """Nothing to start: check that every host answers (and make the scratch directory bin/seed uses)."""
        del workers, access_log, database_url
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for host in self.hosts:
            self._host_status(host)

    def stop(self) -> None:
        """The rehearsal is not ours to stop (deploy/rehearse down DIR does)."""

    def remove_data(self) -> None:
        """Only the scratch directory bin/seed and bin/admin used; the rehearsal's data stays."""
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def _host_status(self, host: Host) -> dict[str, Any]:
        done = subprocess.run(
            [sys.executable, str(ROOT / "bin" / "serve"), "status", "--json", f"--data-dir={host.data_dir}"],
            capture_output=True,
            text=True,
            env=clean_env(),
            cwd=ROOT,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            raise ServiceError(f"host {host.index} ({host.url}) does not answer bin/serve status: {done.stderr[-400:]}")
        status: dict[str, Any] = json.loads(done.stdout)
        return status

    def status(self) -> dict[str, Any]:
        """``bin/serve status --json`` of the hosts served, as one: their workers together."""
        statuses = [self._host_status(host) for host in self.served_by]
        first = statuses[0]["master"]
        return {
            "master": {
                **first,
                "workers_wanted": sum(int(s["master"]["workers_wanted"]) for s in statuses),
            },
            "workers": [worker for s in statuses for worker in s["workers"]],
            "hosts": statuses,
        }

    def metrics_urls(self) -> list[str]:
        """Each host served: nginx does not pass /metrics on (it is for scrapers, not the public)."""
        return [host.url for host in self.served_by]

    def processes(self) -> probes.Processes:
        """The host masters served and their workers (from topology.json's pids: no status call per sample)."""
        masters = [int(self.topology["hosts"][host.index]["master_pid"]) for host in self.served_by]
        return probes.ManyServers([probes.ServerProcesses(master, prefix="jaan:") for master in masters])

    def nginx_processes(self) -> probes.Processes | None:
        """nginx's master and its workers; None when reaching one host directly."""
        if self.only is not None:
            return None
        return probes.ServerProcesses(int(self.topology["nginx"]["pid"]))
