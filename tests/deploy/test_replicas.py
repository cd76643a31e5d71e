"""Catalogue reads from the streaming replica: never older than a change heard of, never an error."""

from __future__ import annotations

import os
import signal
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from jaan.db.replicas import replica_label
from tests.deploy.conftest import call, make_product, sql
from tests.deploy.test_across_hosts import bearer, poll


def gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return True


def replica_product_reads(dsn: str) -> int:
    rows = sql(
        dsn,
        "SELECT coalesce(sum(seq_scan + coalesce(idx_scan, 0)), 0) FROM pg_stat_user_tables WHERE relname = 'products'",
    )
    assert rows
    return int(rows[0][0])


def test_catalogue_reads_go_to_the_replica(topology):
    replica = topology["replicas"][0]["dsn"]
    before = replica_product_reads(replica)
    for host in topology["hosts"]:
        for n in range(10):  # a new search each time: no cache can answer it
            assert call(f"{host['url']}/api/products?search=r{uuid.uuid4().hex[:6]}{n}").status == 200
    poll(lambda: replica_product_reads(replica) >= before + 20)


def test_with_replay_paused_no_host_serves_the_old_product_after_the_change(topology, admin_token):
    primary, replica = topology["primary"]["dsn"], topology["replicas"][0]["dsn"]
    hosts = [host["url"] for host in topology["hosts"]]
    product = make_product(primary, "Paused")
    poll(lambda: sql(replica, "SELECT 1 FROM products WHERE id = %s", (product["id"],)))
    for host in hosts:  # each host has the page cached, read from the replica
        assert call(f"{host}/api/products/slug/{product['slug']}").status == 200
    sql(replica, "SELECT pg_wal_replay_pause()")
    try:
        renamed = f"Renamed {uuid.uuid4().hex[:6]}"
        answer = call(f"{hosts[0]}/api/admin/products/{product['id']}", "PUT", {"name": renamed}, bearer(admin_token))
        assert answer.status == 200, answer.body
        # The replica really is behind: it still has the old name.
        assert sql(replica, "SELECT name FROM products WHERE id = %s", (product["id"],)) != [(renamed,)]
        pages = [f"{host}/api/products/slug/{product['slug']}" for host in hosts]
        # Once a host shows the change (its notification arrived), it never shows the old product again.
        for page in pages:
            poll(lambda page=page: call(page).json()["data"]["name"] == renamed)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for host, page in zip(hosts, pages, strict=True):
                assert call(page).json()["data"]["name"] == renamed
                listed = call(f"{host}/api/products?search=Renamed&per_page=50&s={uuid.uuid4().hex[:4]}")
                assert listed.status == 200
    finally:
        sql(replica, "SELECT pg_wal_replay_resume()")
    poll(lambda: sql(replica, "SELECT name FROM products WHERE id = %s", (product["id"],)) == [(renamed,)])
    for page in pages:
        assert call(page).json()["data"]["name"] == renamed


def replica_gauges(host: str, replica: str) -> dict[str, float]:
    """The replica's jaan_replica_* gauges as a host's /metrics shows them (by sample name)."""
    answer = call(f"{host}/metrics")
    assert answer.status == 200, answer.body
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(answer.body.decode())
        for sample in family.samples
        if sample.name.startswith("jaan_replica_") and sample.labels.get("replica") == replica
    }


def wait_for_gauges(host: str, replica: str, check: Callable[[dict[str, float]], bool]) -> dict[str, float]:
    """The gauges once check() holds for them (both must be there)."""
    seen: dict[str, float] = {}

    def holds() -> bool:
        seen.clear()
        seen.update(replica_gauges(host, replica))
        return len(seen) == 2 and check(seen)

    poll(holds)
    return seen


def caught_up(gauges: dict[str, float]) -> bool:
    return gauges["jaan_replica_lag_seconds"] < 1.0 and gauges["jaan_replica_in_use"] == 1.0


def test_replication_lag_is_a_metric_that_grows_while_replay_is_paused(topology):
    primary, replica = topology["primary"]["dsn"], topology["replicas"][0]["dsn"]
    label = replica_label(replica)
    assert label.startswith("127.0.0.1:")
    host = topology["hosts"][1]["url"]
    wait_for_gauges(host, label, caught_up)
    sql(replica, "SELECT pg_wal_replay_pause()")
    try:
        make_product(primary, "Lagging")  # WAL the replica does not replay
        wait_for_gauges(host, label, lambda gauges: gauges["jaan_replica_lag_seconds"] >= 1.0)
        # Past replica_max_lag (5 s) the workers skip it, and say so.
        skipped = wait_for_gauges(host, label, lambda gauges: gauges["jaan_replica_in_use"] == 0.0)
        assert skipped["jaan_replica_lag_seconds"] > 5.0
    finally:
        sql(replica, "SELECT pg_wal_replay_resume()")
    wait_for_gauges(host, label, caught_up)


def test_with_the_replica_stopped_catalogue_reads_still_answer_200(topology):
    replica = topology["replicas"][0]
    os.kill(replica["pid"], signal.SIGINT)  # PostgreSQL's fast shutdown
    poll(lambda: gone(replica["pid"]))
    for host in topology["hosts"]:
        for n in range(10):
            answer = call(f"{host['url']}/api/products?search=gone{uuid.uuid4().hex[:6]}{n}")
            assert answer.status == 200, answer.body
        assert call(f"{host['url']}/api/categories").status == 200
