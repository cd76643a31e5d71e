"""bin/backup and bin/restore on the embedded cluster: point-in-time restore, the latest state, retention."""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest

from jaan.db.backups import backups_in, start_segment
from jaan.db.embedded import EmbeddedPostgres
from jaan.db.locate import locate_database
from jaan.settings import Settings

ROOT = Path(__file__).resolve().parents[2]


def run(command: str, *args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bin" / command), *args], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"bin/{command} {args}:\n{done.stdout}\n{done.stderr}"
    return done


def rows(dsn: str) -> list[str]:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT tag FROM drill ORDER BY id")
        found = [tag for (tag,) in cur.fetchall()]
    conn.close()
    return found


def add(dsn: str, *tags: str) -> None:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        for tag in tags:
            cur.execute("INSERT INTO drill (tag) VALUES (%s)", (tag,))
    conn.close()


@pytest.fixture
def data_dirs() -> Iterator[list[Path]]:
    """Fresh data directories (0700 under /tmp, as root the cluster and WAL archive then live outside)."""
    made: list[Path] = []
    yield made
    for directory in made:
        for cluster_root in (EmbeddedPostgres(directory).root,):
            shutil.rmtree(cluster_root, ignore_errors=True)
        shutil.rmtree(directory, ignore_errors=True)


def new_dir(made: list[Path]) -> Path:
    made.append(Path(tempfile.mkdtemp(prefix="jaan-pitr-", dir="/tmp")))
    return made[-1]


def test_point_in_time_restore_gives_exactly_the_rows_before_that_moment_and_latest_gives_all(data_dirs):
    source = new_dir(data_dirs)
    with locate_database(Settings.from_env({}, data_dir=source)) as database:
        dsn = database.dsn
        with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
            cur.execute("CREATE TABLE drill (id serial PRIMARY KEY, tag text NOT NULL)")
        conn.close()
        add(dsn, "A1", "A2")
        backup = Path(run("backup", "--data-dir", str(source)).stdout.split()[-1])
        assert backup.parent == source / "backups" and backup.name.startswith("base-")
        add(dsn, "B1", "B2")
        # recovery_target_time has whole seconds: T is the first full second after B's commit.
        now = dt.datetime.now(dt.UTC)
        target = now.replace(microsecond=0) + dt.timedelta(seconds=1)
        time.sleep((target - now).total_seconds() + 1.1)
        add(dsn, "C1")

        to_t = new_dir(data_dirs)
        restored = run(
            "restore", "--from", str(backup), "--data-dir", str(to_t), "--to", target.strftime("%Y-%m-%d %H:%M:%S+00")
        )
        assert "serve it with: bin/serve --data-dir" in restored.stdout
        latest = new_dir(data_dirs)
        run("restore", "--from", str(backup), "--data-dir", str(latest), "--latest")

        # A restore never overwrites a database.
        refused = subprocess.run(
            [sys.executable, str(ROOT / "bin" / "restore"), "--from", str(backup), "--data-dir", str(latest)],
            capture_output=True,
            text=True,
        )
        assert refused.returncode == 1 and "already holds a database" in refused.stderr

        # A restored data directory is an ordinary one: it starts, holds the rows and takes writes.
        with locate_database(Settings.from_env({}, data_dir=to_t)) as restored_db:
            assert rows(restored_db.dsn) == ["A1", "A2", "B1", "B2"]
            add(restored_db.dsn, "after restore")
        with locate_database(Settings.from_env({}, data_dir=latest)) as restored_db:
            assert rows(restored_db.dsn) == ["A1", "A2", "B1", "B2", "C1"]

        # Retention: --keep 1 leaves the newest base backup and only the WAL from its start on.
        second = Path(run("backup", "--data-dir", str(source), "--keep", "1").stdout.split("\n")[0].split()[-1])
        assert backups_in(source / "backups") == [second]
        archive = EmbeddedPostgres(source, backups_dir=source / "backups").wal_archive
        assert archive is not None
        segments = sorted(p.name for p in archive.iterdir() if len(p.name) == 24)
        assert segments and segments[0] >= start_segment(second)
