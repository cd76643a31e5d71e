"""``perf/run``: seed a scratch database, serve it, load every scenario with wrk, measure the ceilings,
and write results.json, report.md and chart.png under perf/results/<timestamp>/.

Order of a run: bin/seed and bin/admin on a scratch data directory; bin/serve --workers W on a
free port; sign-ins, slugs, search terms and stock through the API; each scenario (warm-up, then
the measured wrk run with memory and database sampling alongside); pgbench on the same database;
bin/serve stopped; the bare hello app at the same connection counts; the report. Every process
started here is stopped on the way out, on failure and on Ctrl-C or SIGTERM too.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import resource
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import time
import traceback
from pathlib import Path
from types import FrameType
from typing import Any

from perf import breakdown, compare, pgbench, probes, readme, report, wrk
from perf.scenarios import HELLO_PATH, MANY_CONNECTIONS, Scenario, measured_seconds, select
from perf.service import (
    FULL,
    ROOT,
    TINY,
    Inputs,
    Service,
    ServiceError,
    budget_of,
    free_port,
    start_server,
    stock_check,
    stock_snapshot,
    stop_process,
    wait_quiet,
)
from perf.service import prepare as prepare_inputs
from perf.topology import Rehearsal, direct_hosts, read_topology

RESULTS = ROOT / "perf" / "results"


def parser() -> argparse.ArgumentParser:
    """perf/run's options."""
    cpus = len(os.sched_getaffinity(0))
    p = argparse.ArgumentParser(
        prog="perf/run",
        description="Load-test the service against its ceilings (issue 7); writes perf/results/<timestamp>/.",
    )
    p.add_argument("--quick", action="store_true", help="tiny data set and short runs: a ~1-minute smoke run")
    p.add_argument("--workers", default="auto", help="bin/serve --workers, also the hello app's (default: auto)")
    p.add_argument("--duration", type=float, help="seconds per measured run (default: 15; quick: 2)")
    p.add_argument(
        "--warmup", type=float, help="seconds of warm-up before each scenario, 0 for none (default: 3; quick: 1)"
    )
    p.add_argument(
        "--connections", type=int, default=200, help="wrk connections, except the many-connection runs (default: 200)"
    )
    p.add_argument("--threads", type=int, default=cpus, help=f"wrk threads (default: the usable CPUs, {cpus})")
    p.add_argument("--timeout", type=float, default=2.0, help="wrk's per-request timeout in seconds (default: 2)")
    p.add_argument("--scenarios", default="all", help="comma-separated scenario names, or all (see perf/README.md)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results directory (default: perf/results)")
    p.add_argument("--customers", type=int, help="customers signed in for the order runs (default: 8; quick: 3)")
    p.add_argument("--order-products", type=int, help="products the order runs buy (default: 200; quick: 20)")
    p.add_argument(
        "--pgbench-clients",
        default="pools",
        help="pgbench connections: pools (workers × pool max, what can run queries), budget (the whole"
        " connection budget), or a number (default: pools)",
    )
    p.add_argument(
        "--access-log",
        choices=("on", "off", "both"),
        default="on",
        help="the service's access log: on (its default), off, or both: every scenario again with it off,"
        " and the cost reported (default: on)",
    )
    p.add_argument(
        "--rounds",
        type=int,
        default=1,
        help="with --access-log both: measure each scenario this many times on and off, alternating (default: 1)",
    )
    p.add_argument(
        "--access-log-scenarios",
        default="all",
        metavar="NAMES",
        help="with --access-log both: only these scenarios (comma-separated) run against the twin too; the"
        " others run once, access log on (default: all)",
    )
    p.add_argument(
        "--accept-queues",
        choices=("per-worker", "shared"),
        default="per-worker",
        help="bin/serve --accept-queues, also how the hello app listens (default: per-worker, bin/serve's)",
    )
    p.add_argument("--no-ceilings", action="store_true", help="skip the hello and pgbench ceilings")
    p.add_argument("--no-profile", action="store_true", help="no py-spy profile of a worker during the mixed scenario")
    p.add_argument("--label", help="a line saying what this run is (kept in results.json, shown in the README)")
    p.add_argument(
        "--compare",
        nargs=2,
        type=Path,
        metavar=("A", "B"),
        help="no load: print two runs (results directories or results.json files) side by side with B − A",
    )
    p.add_argument(
        "--readme",
        type=Path,
        metavar="RESULTS",
        help="no load: rewrite perf/README.md's latest figures (between its markers) from a results.json,"
        " e.g. perf/baselines/<name>.json",
    )
    p.add_argument(
        "--readme-block",
        choices=tuple(readme.BLOCKS),
        default="latest",
        help="with --readme: the latest figures (default), or mix: the mixed scenario's breakdown alone",
    )
    p.add_argument("--readme-file", type=Path, default=readme.README, help=argparse.SUPPRESS)
    p.add_argument(
        "--topology",
        type=Path,
        metavar="DIR",
        help="run the scenarios through the nginx of a running rehearsal (deploy/rehearse up DIR) instead of"
        " starting bin/serve; its database is seeded through the primary unless it holds a seeded shop",
    )
    p.add_argument(
        "--direct",
        default="",
        metavar="HOSTS",
        help="with --topology: also run each scenario against these hosts directly, nginx bypassed"
        " (all, or indices such as 0,1), for the cost nginx adds per request (default: none)",
    )
    p.add_argument(
        "--reset-data",
        action="store_true",
        help="with --topology: replace the shop data of a rehearsal whose database bin/seed did not fill",
    )
    p.add_argument("--keep-data", action="store_true", help="keep the scratch database after the run")
    return p


class Stopped(Exception):
    """SIGTERM arrived: unwind like Ctrl-C, so every process is stopped."""


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise Stopped()


def _say(message: str) -> None:
    print(f"perf: {message}", file=sys.stderr, flush=True)


def _raise_file_limit() -> int:
    # 5,000 connections need as many descriptors in wrk and in the servers; children inherit this.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 1 << 20
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory_gb = 0.0
    with contextlib.suppress(OSError, ValueError, IndexError):
        memory_gb = round(int(Path("/proc/meminfo").read_text().split()[1]) / 2**20, 1)
    return {
        "cpus": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gb": memory_gb,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_before": round(os.getloadavg()[0], 2),
        "load_after": None,
        # 1, 5 and 15 minutes: the 1-minute figure alone hides a suite that stopped just before.
        "loads_before": [round(load, 2) for load in os.getloadavg()],
        "loads_after": None,
    }


def commit() -> tuple[str, bool]:
    """The commit measured and whether the tree has uncommitted changes (read-only git calls)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
        ).stdout.strip()
        changes = subprocess.run(
            ["git", "--no-optional-locks", "status", "--porcelain", "--untracked-files=no"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return head, bool(changes)


class Run:
    """One perf run: its options, its directory, its processes and the results gathered so far."""

    def __init__(self, args: argparse.Namespace, argv: list[str] | None = None) -> None:
        self.args = args
        self.quick = bool(args.quick)
        self.duration = args.duration if args.duration is not None else (2.0 if self.quick else 15.0)
        self.warmup = args.warmup if args.warmup is not None else (1.0 if self.quick else 3.0)
        self.customers = args.customers or (3 if self.quick else 8)
        self.order_products = args.order_products or (20 if self.quick else 200)
        self.scenarios = select(args.scenarios)
        self.twin_scenarios = {scenario.name for scenario in select(args.access_log_scenarios)}
        self.topology = args.topology is not None
        self.started = dt.datetime.now(dt.UTC)
        self.stamp = self.started.strftime("%Y%m%dT%H%M%SZ")
        self.dir: Path = args.out.resolve() / self.stamp
        self.service = Service(self.dir / "data", self.dir / "logs")
        # --topology: a running rehearsal stands in for our bin/serve; --direct adds its hosts one by one.
        self.rehearsal: Rehearsal | None = None
        self.direct: dict[str, Rehearsal] = {}
        if args.topology is not None:
            self.rehearsal = Rehearsal(args.topology.resolve(), self.dir / "data", self.dir / "logs")
            self.service = self.rehearsal
            self.direct = {
                f"host{i}": self.rehearsal.host_view(i) for i in direct_hosts(args.direct, len(self.rehearsal.hosts))
            }
        # --access-log both: a twin bin/serve with the access log off, on the same database, measured
        # right after the service for each scenario (the same load on the machine, as near as can be).
        self.twin: Service | None = None
        self.hello: subprocess.Popen[bytes] | None = None
        self.inputs: Inputs | None = None
        head, dirty = commit()
        self.results: dict[str, Any] = {
            "meta": {
                "started": self.started.strftime("%Y-%m-%d %H:%M:%S UTC"),
                "command": shlex.join(["perf/run", *(sys.argv[1:] if argv is None else argv)]),
                "label": args.label,
                "commit": head,
                "dirty": dirty,
                "machine": machine(),
                "options": {
                    "quick": self.quick,
                    "workers": args.workers,
                    "duration": self.duration,
                    "warmup": self.warmup,
                    "connections": args.connections,
                    "threads": args.threads,
                    "timeout": args.timeout,
                    "scenarios": [s.name for s in self.scenarios],
                    # The rehearsal's hosts run without their access log (deploy/rehearse).
                    "access_log": "off (the rehearsal's)" if self.topology else args.access_log,
                    "rounds": args.rounds,
                    "access_log_scenarios": sorted(self.twin_scenarios & {s.name for s in self.scenarios}),
                },
                "data_set": dict((TINY if self.quick else FULL).__dict__),
                "topology": self.rehearsal.describe() if self.rehearsal else None,
            },
            "scenarios": {},
            "ceilings": {"hello": {}, "pgbench": {}},
            "timeline": {},
            "notes": [],
        }

    # -- the steps ---------------------------------------------------------------------------------

    def prepare(self) -> None:
        """Seed, create the admin, serve, and gather sessions, slugs, terms and stock."""
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        data = TINY if self.quick else FULL
        access_log = self.args.access_log != "off"
        if self.rehearsal is not None:
            self.rehearsal.start(self.args.workers)  # every host answers
            _say(f"the rehearsal in {self.rehearsal.directory}: nginx {self.rehearsal.url}")
            self.results["notes"].append(self.rehearsal.seed_or_reuse(data, self.args.reset_data))
            self.service.create_admin()
        else:
            _say(f"seeding {data} into {self.service.data_dir}")
            self.service.seed(data)
            self.service.create_admin()
            _say(f"starting bin/serve --workers {self.args.workers} (access log {'on' if access_log else 'off'})")
            self.service.accept_queues = self.args.accept_queues
            self.service.start(self.args.workers, access_log=access_log)
        status = self.service.status()
        meta = self.results["meta"]
        meta["workers"] = int(status["master"]["workers_wanted"])
        meta["master_pid"] = int(status["master"]["pid"])
        meta["budget"] = budget_of(status)
        meta["budget"]["text"] = status["master"]["budget"]
        meta["wrk"] = wrk.wrk_version()
        meta["serve_command"] = shlex.join(["bin/serve", *self.service.command[2:]])
        meta["settings"] = self.service.settings()
        _say(f"ready on {self.service.url}: {status['master']['budget']}")
        stock = 1_000_000
        if self.args.access_log == "both":
            self.twin = Service(self.dir / "twin", self.dir / "logs" / "twin")
            self.twin.accept_queues = self.args.accept_queues
            _say("starting a twin bin/serve with the access log off, on the same database")
            self.twin.start(self.args.workers, access_log=False, database_url=self.service.dsn)
        self.inputs = prepare_inputs(self.service.url, self.customers, self.order_products, stock)
        self.results["notes"].append(
            f"stock: {stock:,} units added to each of the {len(self.inputs.order_product_ids)} products the order"
            " runs buy, through POST /api/admin/inventory/adjust (restock)"
        )
        inputs_dir = self.dir / "inputs"
        inputs_dir.mkdir(exist_ok=True)
        for name, lines in (
            ("search", self.inputs.search_paths),
            ("slugs", self.inputs.slug_paths),
            ("browse", self.inputs.browse_paths),
        ):
            (inputs_dir / f"{name}.txt").write_text("\n".join(lines) + "\n")
        meta["inputs"] = {
            "search_terms": len(self.inputs.search_paths),
            "slugs": len(self.inputs.slug_paths),
            "customers_signed_in": len(self.inputs.customer_tokens),
        }

    def _wrk_spec(self, scenario: Scenario, duration: float, service: Service) -> wrk.WrkRun:
        assert self.inputs is not None
        inputs = self.dir / "inputs"
        env: dict[str, str] = {}
        if scenario.inputs == "search":
            env["PATHS"] = str(inputs / "search.txt")
        elif scenario.inputs == "slugs":
            env["PATHS"] = str(inputs / "slugs.txt")
        if scenario.inputs in ("orders", "mixed"):
            env["TOKENS"] = ",".join(self.inputs.customer_tokens)
            env["PRODUCT_IDS"] = ",".join(map(str, self.inputs.order_product_ids))
        if scenario.inputs == "mixed":
            env["BROWSE"] = str(inputs / "browse.txt")
            env["PRODUCTS"] = str(inputs / "slugs.txt")
            env["ADMIN_TOKEN"] = self.inputs.admin_token
        headers = {"Authorization": f"Bearer {self.inputs.admin_token}"} if scenario.admin else {}
        return wrk.WrkRun(
            url=service.url + scenario.path,
            connections=scenario.concurrency(self.args.connections),
            duration=duration,
            threads=self.args.threads,
            script=scenario.script,
            headers=headers,
            env=env,
            count_status=scenario.count_status,
            timeout=self.args.timeout,
        )

    def scenario(self, scenario: Scenario, service: Service) -> dict[str, Any]:
        """Warm up, then measure one scenario with memory, connections (and latency over time) sampled."""
        dsn = self.service.dsn
        if self.warmup >= 1:
            wrk.run(self._wrk_spec(scenario, self.warmup, service))
        before = None
        if scenario.creates_orders:
            assert self.inputs is not None
            service.wait_idle()
            wait_quiet(dsn)
            before = stock_snapshot(dsn, self.inputs.order_product_ids)
        sampled: dict[str, Any] = {}
        proxy: dict[str, Any] = {}
        nginx = service.nginx_processes() if isinstance(service, Rehearsal) else None
        timeline = probes.Timeline(service.url + scenario.path) if scenario.timeline else None
        watch: breakdown.Watch | None = None
        if scenario.breakdown:
            pid = None if self.args.no_profile else int(service.status()["workers"][0]["pid"])
            profile_path = self.dir / f"profile-{scenario.name}.txt"
            watch = breakdown.Watch(service.metrics_urls(), dsn, pid, self.duration, profile_path)
        try:
            with (
                probes.sampling(service.processes(), dsn, sampled),
                probes.counting_listen(sampled),
                probes.sampling(nginx, None, proxy) if nginx else contextlib.nullcontext(),
            ):
                if timeline:
                    timeline.start()
                try:
                    seconds = measured_seconds(scenario.concurrency(self.args.connections), self.duration)
                    result = wrk.run(self._wrk_spec(scenario, seconds, service))
                finally:
                    if timeline:
                        label = self._label(service)
                        name = scenario.name if service is self.service else f"{scenario.name}_{label}"
                        self.results["timeline"][name] = timeline.stop()
        except BaseException:
            if watch is not None:
                watch.abort()
            raise
        result = {"title": scenario.title, **result, **sampled}
        if watch is not None:
            service.wait_idle()  # the requests wrk left in flight are counted too
            result["breakdown"] = watch.finish()
        if result.get("requests"):
            result["cpu_us_per_request"] = round(result["server_cpu_s"] / result["requests"] * 1e6, 1)
            if proxy:
                result["nginx_cpu_s"] = proxy["server_cpu_s"]
                result["nginx_cpu_us_per_request"] = round(proxy["server_cpu_s"] / result["requests"] * 1e6, 1)
        if before is not None:
            assert self.inputs is not None
            service.wait_idle()
            wait_quiet(dsn)
            after = stock_snapshot(dsn, self.inputs.order_product_ids)
            result.update(stock_check(dsn, before, after))
            # The order run: orders answered 2xx within the run (orders_created also counts the ones wrk left
            # in flight when it stopped). The mix: orders created over the run's length.
            if scenario.inputs == "orders":
                result["orders_per_s"] = result["ok_rps"]
            else:
                result["orders_per_s"] = round(result["orders_created"] / result["duration_s"], 1)
        return result

    def pgbench_ceilings(self) -> None:
        """pgbench with the product list's and the slug's SQL, at the service's connections."""
        wanted = {s.pgbench for s in self.scenarios if s.pgbench}
        if not wanted:
            return
        budget = self.results["meta"]["budget"]
        choice = self.args.pgbench_clients
        clients = {"pools": budget["pool_connections"], "budget": budget["total"]}.get(choice) or int(choice)
        # The rehearsal's primary by its URL (pgbench straight to it, no PgBouncer), else our embedded cluster.
        database = self.service.dsn if self.rehearsal else self.service.cluster
        try:
            sql = pgbench.scripts(self.service.dsn)
        except Exception as exc:  # the catalogue's code is mid-change: report it, keep the run
            for name in wanted:
                self.results["ceilings"]["pgbench"][name] = {"error": f"capturing the SQL failed: {exc}"}
            return
        for name in sorted(wanted):
            _say(f"ceiling: pgbench {name} SQL at {clients} clients")
            try:
                figures = pgbench.run(
                    database, sql[name], clients, self.args.threads, self.duration, self.dir / "pgbench"
                )
                figures["sql"] = sql[name]
            except (RuntimeError, subprocess.SubprocessError) as exc:
                figures = {"error": str(exc)}
            self.results["ceilings"]["pgbench"][name] = figures

    def hello_ceilings(self) -> None:
        """The bare aiohttp app under the same worker count, at each connection count the scenarios use."""
        counts = sorted({s.concurrency(self.args.connections) for s in self.scenarios} | {MANY_CONNECTIONS})
        port = free_port()
        workers = self.results["meta"]["workers"]
        # Listening as bin/serve listens: the same backlog, a queue per worker or one shared.
        settings = self.results["meta"].get("settings", {})
        command = [
            sys.executable,
            str(ROOT / "perf" / "hello.py"),
            f"--port={port}",
            f"--workers={workers}",
            f"--backlog={settings.get('backlog', 4096)}",
            f"--accept-queues={settings.get('accept_queues', self.args.accept_queues)}",
        ]
        self.hello = start_server(command, self.dir / "logs" / "hello.log", timeout=30)
        url = f"http://127.0.0.1:{port}{HELLO_PATH}"
        try:
            for connections in counts:
                _say(f"ceiling: bare aiohttp hello, {workers} workers, {connections} connections")
                seconds = measured_seconds(connections, self.duration)
                spec = wrk.WrkRun(url, connections, seconds, self.args.threads, timeout=self.args.timeout)
                try:
                    if self.warmup >= 1:
                        wrk.run(wrk.WrkRun(url, connections, self.warmup, self.args.threads, timeout=self.args.timeout))
                    sampled: dict[str, Any] = {}
                    timeline = probes.Timeline(url) if connections == MANY_CONNECTIONS else None
                    with (
                        probes.sampling(probes.ServerProcesses(self.hello.pid), None, sampled),
                        probes.counting_listen(sampled),
                    ):
                        if timeline:
                            timeline.start()
                        try:
                            figures = wrk.run(spec)
                        finally:
                            if timeline:
                                self.results["timeline"][f"hello_c{connections}"] = timeline.stop()
                    figures.update(sampled)
                except wrk.WrkError as exc:
                    figures = {"error": str(exc)}
                self.results["ceilings"]["hello"][str(connections)] = figures
        finally:
            stop_process(self.hello, grace=10)

    def ratios(self) -> None:
        """Each scenario against its ceilings."""
        hello = self.results["ceilings"]["hello"]
        bench = self.results["ceilings"]["pgbench"]
        for name, run in self.results["scenarios"].items():
            if "error" in run:
                continue
            scenario = next(s for s in self.scenarios if s.name == name)
            ceiling = hello.get(str(run["connections"]), {})
            if ceiling.get("ok_rps"):
                run["vs_hello"] = round(run["ok_rps"] / ceiling["ok_rps"], 4)
            if scenario.pgbench and bench.get(scenario.pgbench, {}).get("tps"):
                run["vs_pgbench"] = round(run["ok_rps"] / bench[scenario.pgbench]["tps"], 4)
        for name, off in self.results.get("access_log_off", {}).items():
            on = self.results["scenarios"].get(name, {})
            if "error" in off or "error" in on or not off.get("ok_rps"):
                continue
            ceiling = hello.get(str(off["connections"]), {})
            if ceiling.get("ok_rps"):
                off["vs_hello"] = round(off["ok_rps"] / ceiling["ok_rps"], 4)
            # The median over the rounds of each round's own ratio: a busy spell spoils one round, not all.
            rounds = on.get("access_log_rounds") or []
            rates = [r["on_rps"] / r["off_rps"] for r in rounds if r["off_rps"]]
            if rates:
                on["access_log_cost"] = round(1 - statistics.median(rates), 4)
            cpus = [r["on_cpu_us"] / r["off_cpu_us"] for r in rounds if r["on_cpu_us"] and r["off_cpu_us"]]
            if cpus:
                on["access_log_cpu_cost"] = round(statistics.median(cpus) - 1, 4)

    def _label(self, service: Service) -> str:
        """How results name a service other than the main one: the twin, or a host reached directly."""
        if service is self.twin:
            return "access_log_off"
        return next((label for label, host in self.direct.items() if host is service), "other")

    def measure(self, scenario: Scenario, service: Service, into: dict[str, Any], what: str = "") -> None:
        """One scenario against one service, its figures (or why it failed) into `into`."""
        connections = scenario.concurrency(self.args.connections)
        seconds = measured_seconds(connections, self.duration)
        _say(f"scenario {scenario.name}{what}: {connections} connections, {seconds:g} s")
        try:
            into[scenario.name] = self.scenario(scenario, service)
        except (wrk.WrkError, ServiceError) as exc:
            into[scenario.name] = {"title": scenario.title, "error": str(exc)}
        shown = into[scenario.name]
        if "error" in shown:
            _say(f"  failed: {shown['error']}")
        else:
            _say(
                f"  {shown['ok_rps']:,.0f} req/s, p99 {shown['latency_ms']['p99']:,.1f} ms,"
                f" {shown['non_2xx']} non-2xx, {shown['socket_errors_total']} socket errors"
            )

    def measure_access_log(self, scenario: Scenario, twin: Service) -> None:
        """Rounds of the scenario with the access log on and off, back to back, alternating which goes
        first; the last round's figures stand in the tables, every round's ratio is kept."""
        on_runs, off_runs = self.results["scenarios"], self.results.setdefault("access_log_off", {})
        rounds = []
        for number in range(self.args.rounds):
            order = [(self.service, on_runs, ""), (twin, off_runs, " (access log off)")]
            for service, into, what in order if number % 2 == 0 else order[::-1]:
                self.measure(scenario, service, into, what + (f", round {number + 1}" if self.args.rounds > 1 else ""))
            on, off = on_runs[scenario.name], off_runs[scenario.name]
            if "error" in on or "error" in off:
                return
            rounds.append(
                {
                    "on_rps": on["ok_rps"],
                    "off_rps": off["ok_rps"],
                    "on_cpu_us": on.get("cpu_us_per_request"),
                    "off_cpu_us": off.get("cpu_us_per_request"),
                }
            )
        on_runs[scenario.name]["access_log_rounds"] = rounds

    def execute(self) -> None:
        """The whole run, up to (not including) writing the report."""
        self.prepare()
        for scenario in self.scenarios:
            if self.twin is None or scenario.name not in self.twin_scenarios:
                self.measure(
                    scenario, self.service, self.results["scenarios"], " (through nginx)" if self.topology else ""
                )
                # The same scenario straight to each host asked for, right after: nginx's cost by difference.
                for label, host in self.direct.items():
                    into = self.results.setdefault("direct", {}).setdefault(label, {})
                    self.measure(scenario, host, into, f" ({label} directly: {host.url})")
            else:
                self.measure_access_log(scenario, self.twin)
        if not self.args.no_ceilings:
            self.pgbench_ceilings()
        if self.twin is not None:
            self.twin.stop()
        self.service.stop()
        if not self.args.no_ceilings:
            self.hello_ceilings()

    def finish(self, elapsed: float) -> Path:
        """Write results.json, report.md, chart.png and point ``latest`` at them."""
        meta = self.results["meta"]
        meta["elapsed_s"] = round(elapsed, 1)
        meta["machine"]["load_after"] = round(os.getloadavg()[0], 2)
        meta["machine"]["loads_after"] = [round(load, 2) for load in os.getloadavg()]
        meta.setdefault("workers", 0)
        meta.setdefault("budget", {"total": 0, "workers": 0, "pool_max": 0, "pool_connections": 0})
        meta.setdefault("wrk", "wrk")
        self.ratios()
        self.results["targets"] = report.evaluate_targets(self.results)
        self.dir.mkdir(parents=True, exist_ok=True)
        report.write_json(self.results, self.dir / "results.json")
        report.write_markdown(self.results, self.dir / "report.md")
        report.write_chart(self.results, self.dir / "chart.png")
        latest = self.dir.parent / "latest"
        temporary = self.dir.parent / f".latest-{os.getpid()}"
        temporary.unlink(missing_ok=True)
        temporary.symlink_to(self.dir.name)
        os.replace(temporary, latest)
        return self.dir

    def cleanup(self) -> None:
        """Stop whatever still runs and remove the scratch database (unless --keep-data)."""
        if self.hello is not None:
            stop_process(self.hello, grace=10)
        if self.twin is not None:
            self.twin.stop()
            shutil.rmtree(self.twin.data_dir, ignore_errors=True)
        self.service.stop()
        if not self.args.keep_data:
            self.service.remove_data()


def main(argv: list[str] | None = None) -> int:
    """Run the suite; 0 when every scenario produced figures, 1 otherwise, 2 for bad options."""
    args = parser().parse_args(argv)
    try:
        if args.compare:
            print(compare.render(compare.load(args.compare[0]), compare.load(args.compare[1])))
            return 0
        if args.readme:
            readme.rewrite(args.readme, args.readme_file, args.readme_block)
            print(f"perf/run: {args.readme_file} now shows {args.readme}")
            return 0
    except (OSError, ValueError, KeyError) as exc:
        print(f"perf/run: {exc}", file=sys.stderr)
        return 2
    try:
        select(args.scenarios)
        select(args.access_log_scenarios)
        if args.access_log_scenarios != "all" and args.access_log != "both":
            raise ValueError("--access-log-scenarios goes with --access-log both")
        if args.topology is None and (args.direct or args.reset_data):
            raise ValueError("--direct and --reset-data go with --topology DIR")
        if args.topology is not None:
            if args.access_log != "on":
                raise ValueError(
                    "--access-log: a rehearsal's hosts run without it; --topology measures them as they run"
                )
            direct_hosts(args.direct, len(read_topology(args.topology.resolve())["hosts"]))
        wrk.wrk_binary()
        import matplotlib  # noqa: F401  (fail now, not after ten minutes of load)
    except (ValueError, wrk.WrkError, ServiceError) as exc:
        print(f"perf/run: {exc}", file=sys.stderr)
        return 2
    except ImportError:
        print(
            "perf/run: matplotlib is missing: run `make perf`, or `.venv/bin/pip install -e '.[perf]'`", file=sys.stderr
        )
        return 2
    limit = _raise_file_limit()
    if limit < MANY_CONNECTIONS * 2 + 1000:
        _say(f"warning: the open-file limit is {limit}; the 5,000-connection runs may fail to connect")
    signal.signal(signal.SIGTERM, _on_sigterm)
    # Also when started in the background of a script, which would otherwise leave SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    began = time.monotonic()
    run = Run(args, argv)
    failed: str | None = None
    try:
        run.execute()
    except KeyboardInterrupt:
        failed = "interrupted"
    except Stopped:
        failed = "stopped by SIGTERM"
    except Exception as exc:  # any failure still ends in a report that says what happened
        failed = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the clean-up short
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        run.cleanup()
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if failed:
        run.results["notes"].append(f"run failed: {failed}")
        _say(f"failed: {failed}")
    out = run.finish(time.monotonic() - began)
    _say(f"report: {out / 'report.md'} (took {time.monotonic() - began:.0f} s)")
    errors = [name for name, result in run.results["scenarios"].items() if "error" in result]
    missing = [s.name for s in run.scenarios if s.name not in run.results["scenarios"]]
    return 1 if failed or errors or missing else 0
