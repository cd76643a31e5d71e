"""The embedded PostgreSQL: starts on first use, is shared while running, survives a crash."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psycopg2
import pytest

from jaan.db.embedded import EmbeddedPostgres, embedded_database
from tests.conftest import FAST
from tests.waiting import PATIENCE


@pytest.fixture
def data_dir():
    root = Path(tempfile.mkdtemp(prefix="jaan-embedded-", dir="/tmp"))
    root.chmod(0o755)
    yield root / "var"
    cluster = EmbeddedPostgres(root / "var") if (root / "var").exists() else None
    if cluster is not None:
        shutil.rmtree(cluster.root, ignore_errors=True)
    shutil.rmtree(root, ignore_errors=True)


def query(dsn: str, sql: str):
    conn = psycopg2.connect(dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(sql)
            return cur.fetchone()[0]
    finally:
        conn.close()


def wait_until(condition, timeout: float = PATIENCE) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def test_first_use_initialises_a_utc_cluster_on_a_private_socket(data_dir):
    with embedded_database(data_dir, options=FAST, max_connections=150) as dsn:
        assert query(dsn, "SHOW TimeZone") == "UTC"
        assert query(dsn, "SHOW max_connections") == "150"
        assert query(dsn, "SHOW listen_addresses") == ""
        cluster = EmbeddedPostgres(data_dir)
        assert cluster.socket_dir.stat().st_mode & 0o777 == 0o700
        pid = cluster.running_pid()
        assert pid is not None
    assert not Path(f"/proc/{pid}").exists() or wait_until(lambda: not Path(f"/proc/{pid}").exists())


@pytest.mark.skipif(os.geteuid() != 0, reason="only root must hand PostgreSQL to another account")
def test_as_root_the_server_runs_unprivileged_and_leaves_a_0700_parent(tmp_path):
    # pytest's tmp_path sits under a 0700 directory the server account cannot enter.
    data_dir = tmp_path / "var"
    with embedded_database(data_dir, options=FAST) as dsn:
        cluster = EmbeddedPostgres(data_dir)
        assert not cluster.root.is_relative_to(tmp_path)
        assert (data_dir / "postgres.location").read_text().strip() == str(cluster.root)
        pid = cluster.running_pid()
        assert Path(f"/proc/{pid}").stat().st_uid != 0
        assert query(dsn, "SELECT 1") == 1
    shutil.rmtree(cluster.root, ignore_errors=True)


def test_a_running_cluster_is_used_and_left_running(data_dir):
    with embedded_database(data_dir, options=FAST) as first:
        pid = EmbeddedPostgres(data_dir).running_pid()
        with embedded_database(data_dir, options=FAST) as second:
            assert second == first
        assert EmbeddedPostgres(data_dir).running_pid() == pid
        assert query(first, "SELECT 2") == 2


def test_a_stale_pid_file_from_a_crashed_run_does_not_block_the_next_start(data_dir):
    with embedded_database(data_dir, options=FAST):
        pass
    cluster = EmbeddedPostgres(data_dir)
    # What a crash leaves: a pid file naming a process that is not our postmaster.
    (cluster.pgdata / "postmaster.pid").write_text(f"{os.getpid()}\n{cluster.pgdata}\n")
    with embedded_database(data_dir, options=FAST) as dsn:
        assert query(dsn, "SELECT 3") == 3


def test_the_cluster_dies_with_the_process_that_started_it(data_dir):
    script = (
        "import sys, time; sys.path.insert(0, 'src')\n"
        "from pathlib import Path\n"
        "from jaan.db.embedded import embedded_database\n"
        f"with embedded_database(Path({str(data_dir)!r})):\n"
        "    print('up', flush=True); time.sleep(60)\n"
    )
    starter = subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[2]
    )
    try:
        assert starter.stdout is not None
        assert starter.stdout.readline().strip() == b"up"
        pid = EmbeddedPostgres(data_dir).running_pid()
        assert pid is not None
        starter.send_signal(signal.SIGKILL)
        starter.wait()
        assert wait_until(lambda: not Path(f"/proc/{pid}").exists())
    finally:
        starter.kill()
        starter.wait()
        if starter.stdout:
            starter.stdout.close()


def test_a_cluster_started_by_hand_while_ours_was_down_is_adopted_and_stopped_with_ours(data_dir):
    from jaan.db.embedded import embedded_cluster
    from jaan.serving.database_supervisor import DatabaseSupervisor

    with embedded_cluster(data_dir, options=FAST) as (cluster, started):
        assert started and cluster.process is not None
        supervisor = DatabaseSupervisor(cluster)

        def state_after_check(restart: bool = True) -> str:
            supervisor.check(restart=restart)
            return supervisor.state

        cluster.process.kill()
        assert wait_until(lambda: state_after_check(restart=False) == "down")
        assert supervisor.last_exit == "was killed by SIGKILL"
        # Someone starts it by hand (pg_ctl start, say) before the supervisor's backoff ends.
        by_hand = EmbeddedPostgres(data_dir, options=FAST)
        by_hand.start()
        assert by_hand.process is not None
        # The shell that started it by hand reaps it when it exits.  Here it is this process's child:
        # unreaped, it would stay a zombie that looks alive to the stop until its 30 s timeout.
        threading.Thread(target=by_hand.process.wait, daemon=True).start()
        assert wait_until(lambda: state_after_check() == "running")
        assert supervisor.pid == by_hand.process.pid and supervisor.restarts == 0
    # Leaving the block that started the cluster stops whichever postmaster now runs it.
    assert wait_until(lambda: by_hand.process is not None and by_hand.process.poll() is not None)
    assert EmbeddedPostgres(data_dir).running_pid() is None


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def tcp_dsn(port: int, password: str | None) -> str:
    dsn = f"host=127.0.0.1 port={port} dbname=jaan user=jaan connect_timeout=10"
    return dsn if password is None else str(psycopg2.extensions.make_dsn(dsn, password=password))


def test_tcp_asks_for_the_generated_password_while_the_private_socket_trusts(data_dir):
    port = free_port()
    with embedded_database(data_dir, tcp_port=port, options=FAST) as dsn:
        cluster = EmbeddedPostgres(data_dir, tcp_port=port)
        password_file = data_dir / "postgres.password"
        assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
        password = password_file.read_text().strip()
        assert len(password) >= 32 and f"password={password}" in dsn
        assert query(dsn, "SELECT 1") == 1  # the DSN every command gets works

        for wrong in (None, "", "not the password"):
            with pytest.raises(psycopg2.OperationalError, match="password"):
                psycopg2.connect(tcp_dsn(port, wrong)).close()
        assert query(tcp_dsn(port, password), "SELECT current_user") == "jaan"
        # The unix socket, in its 0700 directory, needs no password.
        assert query(f"host={cluster.socket_dir} port={port} dbname=jaan user=jaan", "SELECT 2") == 2
        assert query(dsn, "SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = 'jaan'")


def test_a_cluster_made_when_tcp_was_trusted_asks_for_the_password_from_its_next_start(data_dir):
    with embedded_database(data_dir, options=FAST):
        pass
    cluster = EmbeddedPostgres(data_dir)
    # What initdb wrote for clusters made before: trust for every TCP connection.
    (cluster.pgdata / "pg_hba.conf").write_text("local all all trust\nhost all all 127.0.0.1/32 trust\n")
    (data_dir / "postgres.password").unlink()
    port = free_port()
    with embedded_database(data_dir, tcp_port=port, options=FAST):
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(tcp_dsn(port, None)).close()
        password = (data_dir / "postgres.password").read_text().strip()
        assert query(tcp_dsn(port, password), "SELECT 3") == 3
