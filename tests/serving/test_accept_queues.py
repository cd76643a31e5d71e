"""Where new connections wait: a queue per worker (SO_REUSEPORT, the default) or one shared by all.

A queue per worker lets a burst of thousands of connections spread over the workers' queues
instead of overflowing one; a stopping worker must still lose none of the connections queued on
its socket (the host's net.ipv4.tcp_migrate_req moves what reaches it after it stopped taking new
ones).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from jaan.serving import sockets
from tests.serving.conftest import Load, Service

MIGRATE_REQ = Path("/proc/sys/net/ipv4/tcp_migrate_req")


def listening_sockets(port: int) -> dict[int, set[int]]:
    """The sockets listening on 127.0.0.1:`port` (by inode), each with the pids holding it."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        local, state, inode = fields[1], fields[3], int(fields[9])
        if state == "0A" and local == f"0100007F:{port:04X}":
            inodes.add(inode)
    holders: dict[int, set[int]] = {inode: set() for inode in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            fds = list((proc / "fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and int(target[8:-1]) in holders:
                holders[int(target[8:-1])].add(int(proc.name))
    return holders


@pytest.fixture
def migrating_host() -> Iterator[None]:
    """net.ipv4.tcp_migrate_req = 1 for the test (as the operator's guide asks), restored afterwards."""
    try:
        before = MIGRATE_REQ.read_text()
        MIGRATE_REQ.write_text("1")
    except OSError as exc:
        pytest.skip(f"net.ipv4.tcp_migrate_req cannot be set here: {exc}")
    try:
        yield
    finally:
        MIGRATE_REQ.write_text(before)


def test_each_worker_listens_on_a_socket_of_its_own(serve):
    service = serve("--workers", "2")
    workers = set(service.worker_pids().values())
    held = listening_sockets(service.port)
    assert len(held) == 2
    assert sorted(len(pids) for pids in held.values()) == [1, 1]
    assert set().union(*held.values()) == workers


def test_shared_accept_queue_is_one_socket_held_by_the_master_and_every_worker(serve):
    service = serve("--workers", "2", "--accept-queues", "shared")
    held = listening_sockets(service.port)
    assert len(held) == 1
    assert set(service.worker_pids().values()) | {service.process.pid} <= next(iter(held.values()))


def test_start_warns_when_the_host_would_reset_a_stopping_workers_queue(serve):
    service = serve("--workers", "1")
    warned = "tcp_migrate_req is not 1" in service.stderr
    assert warned == (not sockets.migrates_queued_connections())


@pytest.mark.parametrize("queues", ["per-worker", "shared"])
def test_a_reload_refuses_or_resets_no_fresh_connection(request, serve, queues):
    """Every worker is replaced (a recycling past --max-requests drains the same way)."""
    if queues == "per-worker":
        request.getfixturevalue("migrating_host")
    service: Service = serve("--workers", "2", "--accept-queues", queues)
    # A new connection for every request: each one is queued on some worker's socket at the moment
    # that worker may be stopping.
    with Load(service.port, clients=8, max_requests=50000, max_seconds=100, requests_per_connection=1) as load:
        load.wait_for(300)
        service.signal(signal.SIGHUP)
        service.wait_until(lambda s: s["master"]["reload"]["state"] == "done", timeout=60)
        load.wait_for(load.result.ok + 300)
    result = load.stop()
    assert result.failed == 0 and result.refused == 0, result.errors
