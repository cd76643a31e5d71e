"""Catalogue reads from the streaming replica: never older than a change heard of, never an error."""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

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


def test_with_the_replica_stopped_catalogue_reads_still_answer_200(topology):
    replica = topology["replicas"][0]
    os.kill(replica["pid"], signal.SIGINT)  # PostgreSQL's fast shutdown
    poll(lambda: gone(replica["pid"]))
    for host in topology["hosts"]:
        for n in range(10):
            answer = call(f"{host['url']}/api/products?search=gone{uuid.uuid4().hex[:6]}{n}")
            assert answer.status == 200, answer.body
        assert call(f"{host['url']}/api/categories").status == 200
