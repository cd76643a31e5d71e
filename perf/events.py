"""Live events at scale (issue 15): many idle subscribers, and one event's fan-out.

    .venv/bin/python -m perf.events [--idle 10000] [--fanout 1000] [--events 20] [--workers 2]

Seeds a tiny scratch shop, serves it with ``bin/serve --workers N``, then

1. opens ``--idle`` customer SSE streams (the customers' own events: none arrive while idle) and,
   while they are all open, asks ``/api/health`` ``--health`` times one after another: every
   answer must be 200 (latency percentiles reported), and ``bin/serve status`` must count them;
2. opens ``--fanout`` admin SSE streams besides them, and ``--events`` times writes one contact
   inquiry to the database (``contact.received``, which every admin stream receives): the
   latency of each delivery is from just before the INSERT to its arrival at each subscriber.
   Target: p99 <= 100 ms.

Clients are raw asyncio sockets on uvloop (a few KB each), in this one process; the file limit is
raised to its hard limit first (the server's processes inherit it). Results go to stdout as JSON
(``--out FILE`` also writes them there). Everything runs on this machine: on shared cores the
figures include the clients' own work.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import resource
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp
import psycopg2
import uvloop

from perf.service import ADMIN_EMAIL, ADMIN_PASSWORD, CUSTOMER_PASSWORD, TINY, Service

CONNECT_BATCH = 200  # streams opened at once


def raise_file_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentiles(values: list[float]) -> dict[str, float]:
    """p50 / p99 / max in milliseconds."""
    ordered = sorted(values)
    if not ordered:
        return {}

    def at(share: float) -> float:
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))] * 1000

    return {
        "count": len(ordered),
        "min_ms": ordered[0] * 1000,
        "p50_ms": at(0.5),
        "p99_ms": at(0.99),
        "max_ms": ordered[-1] * 1000,
    }


class Stream:
    """One SSE subscriber on a raw socket: opened, then either left idle or watched for markers."""

    retried = 0  # 503s answered to opens (retried)

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer
        self.arrivals: dict[str, float] = {}

    @classmethod
    async def open(cls, port: int, path: str, token: str) -> Stream:
        """Open a stream; a 503 (the worker busy or restarting) is retried, as a client would."""
        for attempt in range(20):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                "Accept: text/event-stream\r\n\r\n".encode()
            )
            status = await reader.readline()
            if b" 200 " in status:
                while (await reader.readline()) not in (b"\r\n", b""):
                    pass
                return cls(reader, writer)
            writer.close()
            if b" 503 " not in status:
                raise RuntimeError(f"stream refused: {status!r}")
            Stream.retried += 1
            await asyncio.sleep(0.2 * (attempt + 1))
        raise RuntimeError("stream refused 20 times with 503")

    async def watch(self, markers: list[str]) -> None:
        """Note when each marker first arrives (they are short and never split by the server's writes)."""
        pending = {m.encode(): m for m in markers}
        while pending:
            data = await self.reader.read(65536)
            if not data:
                return
            now = time.perf_counter()
            for raw in [raw for raw in pending if raw in data]:
                self.arrivals[pending.pop(raw)] = now

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


async def open_many(port: int, path: str, tokens: list[str], count: int) -> list[Stream]:
    streams: list[Stream] = []
    for start in range(0, count, CONNECT_BATCH):
        ends = range(start, min(count, start + CONNECT_BATCH))
        batch = [Stream.open(port, path, tokens[i % len(tokens)]) for i in ends]
        streams += await asyncio.gather(*batch)
    return streams


async def sign_in(session: aiohttp.ClientSession, base: str, email: str, password: str) -> str:
    async with session.post(f"{base}/api/auth/signin", json={"email": email, "password": password}) as response:
        body = await response.json()
        if response.status != 200:
            raise RuntimeError(f"sign-in of {email} failed: {response.status} {body}")
        return str(body["session"]["token"])


async def health_checks(session: aiohttp.ClientSession, base: str, count: int) -> dict[str, Any]:
    latencies, failures = [], 0
    for _ in range(count):
        began = time.perf_counter()
        try:
            async with session.get(f"{base}/api/health", timeout=aiohttp.ClientTimeout(total=10)) as response:
                await response.read()
                failures += response.status != 200
        except (aiohttp.ClientError, TimeoutError):
            failures += 1
        latencies.append(time.perf_counter() - began)
    return {"failures": failures, **percentiles(latencies)}


def subscriber_total(service: Service) -> tuple[int, list[dict[str, int]]]:
    workers = service.status()["workers"]
    per_worker = [w.get("subscribers", {}) for w in workers]
    return sum(sum(counts.values()) for counts in per_worker), per_worker


async def measure(args: argparse.Namespace, service: Service) -> dict[str, Any]:
    base = service.url
    results: dict[str, Any] = {"idle": args.idle, "fanout": args.fanout, "workers": args.workers}
    async with aiohttp.ClientSession() as session:
        admin = await sign_in(session, base, ADMIN_EMAIL, ADMIN_PASSWORD)
        customers = [await sign_in(session, base, f"customer{n}@example.com", CUSTOMER_PASSWORD) for n in (1, 2, 3)]

        began = time.perf_counter()
        idle = await open_many(service.port, "/api/events", customers, args.idle)
        results["idle_open_seconds"] = round(time.perf_counter() - began, 2)
        results["idle_open_retried_503"] = Stream.retried
        # The workers report their streams to the status with their heartbeat: wait for it, not a fixed time.
        deadline = time.monotonic() + 30
        while True:
            total, per_worker = await asyncio.to_thread(subscriber_total, service)
            if total >= args.idle or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        results["status_subscribers"], results["status_per_worker"] = total, per_worker
        results["health_while_idle"] = await health_checks(session, base, args.health)

        watchers = await open_many(service.port, "/api/admin/events", [admin], args.fanout)
        markers = [f"perf-fanout-{uuid.uuid4().hex[:12]}" for _ in range(args.events)]
        tasks = [asyncio.create_task(w.watch(markers)) for w in watchers]
        await asyncio.sleep(1.0)
        dsn = service.cluster.dsn
        sent: dict[str, float] = {}
        per_event: list[dict[str, Any]] = []
        conn = psycopg2.connect(dsn)
        conn.autocommit = True  # (a `with conn:` block would make the inserts one transaction)
        try:
            with conn.cursor() as cur:
                for marker in markers:
                    sent[marker] = time.perf_counter()
                    cur.execute(
                        "INSERT INTO contact_submissions (full_name, company_name, business_email, phone_number,"
                        " message) VALUES ('Perf Fanout', %s, 'perf@example.com', '555-0100', 'fan-out measurement')",
                        (marker,),
                    )
                    deadline = time.perf_counter() + 10
                    while time.perf_counter() < deadline and any(marker not in w.arrivals for w in watchers):  # noqa: ASYNC110
                        await asyncio.sleep(0.01)
                    delays = [w.arrivals[marker] - sent[marker] for w in watchers if marker in w.arrivals]
                    per_event.append({"missing": args.fanout - len(delays), **percentiles(delays)})
        finally:
            conn.close()
        every = [w.arrivals[m] - sent[m] for w in watchers for m in markers if m in w.arrivals]
        results["fanout_all_deliveries"] = percentiles(every)
        results["watchers_ended"] = sum(1 for task in tasks if task.done())
        results["fanout_per_event_p99_ms"] = [round(e.get("p99_ms", float("nan")), 1) for e in per_event]
        results["fanout_per_event_first_ms"] = [round(e.get("min_ms", float("nan")), 1) for e in per_event]
        results["fanout_missing"] = sum(e["missing"] for e in per_event)
        p99s = [e["p99_ms"] for e in per_event if "p99_ms" in e]
        results["fanout_p99_median_over_events_ms"] = round(statistics.median(p99s), 1) if p99s else None
        results["health_after"] = await health_checks(session, base, 20)
        for task in tasks:
            task.cancel()
        for stream in (*idle, *watchers):
            stream.close()
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle", type=int, default=10000)
    parser.add_argument("--fanout", type=int, default=1000)
    parser.add_argument("--events", type=int, default=20)
    parser.add_argument("--health", type=int, default=200)
    parser.add_argument("--workers", default="2")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    limit = raise_file_limit()
    if limit < args.idle + args.fanout + 200:
        print(f"the file limit ({limit}) is too low for {args.idle + args.fanout} streams", file=sys.stderr)
        return 2
    scratch = Path(tempfile.mkdtemp(prefix="jaan-perf-events-", dir="/tmp"))
    service = Service(scratch / "data", scratch)
    try:
        service.seed(TINY)
        service.create_admin()
        service.start(args.workers)
        results = {"file_limit": limit, **uvloop.run(measure(args, service))}
    finally:
        service.stop()
        service.remove_data()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
