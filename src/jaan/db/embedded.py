"""The embedded PostgreSQL cluster of a data directory.

When no ``DATABASE_URL`` is given, every command (``bin/serve``, ``bin/migrate``,
the test suite) finds its database here: it connects to the cluster when a
running command already started it, and otherwise starts it for its own
lifetime.  The cluster listens on a unix socket in a private directory, runs in
UTC and, when we are root, as an unprivileged user (PostgreSQL refuses root).

The unix socket trusts whoever reaches it: its directory is 0700, so only the server's
account and root can.  TCP (``JAAN_EMBEDDED_PG_PORT``, loopback only) asks for the
superuser's password, generated on first use into ``<data dir>/postgres.password`` (mode
0600), so no other local user can become the cluster's superuser.  Every DSN handed out
carries the password.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import hashlib
import logging
import os
import pwd
import secrets
import shlex
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path

import psycopg2

log = logging.getLogger(__name__)

DATABASE = "jaan"
SUPERUSER = "jaan"
PASSWORD_FILE = "postgres.password"

# Written on every start, so a cluster made when TCP was trusted is locked down too.
PG_HBA = """\
# Written by jaan on every start (src/jaan/db/embedded.py): edits here are lost.
# The unix socket's directory is 0700: only the server's account and root reach it.
local   all           all                     trust
local   replication   all                     trust
# TCP on loopback (JAAN_EMBEDDED_PG_PORT) needs the password in <data dir>/postgres.password.
host    all           all     127.0.0.1/32    scram-sha-256
host    all           all     ::1/128         scram-sha-256
host    replication   all     127.0.0.1/32    scram-sha-256
host    replication   all     ::1/128         scram-sha-256
"""
_PR_SET_PDEATHSIG = 1


class EmbeddedPostgresError(RuntimeError):
    pass


def find_binaries() -> Path:
    """The directory holding initdb and postgres: the system's, else the pgserver wheel's."""
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    on_path = shutil.which("postgres")
    if on_path:
        candidates.append(Path(on_path).parent)
    try:
        import pgserver

        candidates.append(Path(pgserver.__file__).parent / "pginstall" / "bin")
    except ImportError:
        pass
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    raise EmbeddedPostgresError(
        "no PostgreSQL server binaries found: install the postgresql package "
        "or `pip install pgserver`, or set DATABASE_URL"
    )


def _server_account() -> pwd.struct_passwd | None:
    """The unprivileged account PostgreSQL runs as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise EmbeddedPostgresError("running as root but no unprivileged account (postgres, nobody) exists")


def _reachable_by(path: Path, account: pwd.struct_passwd | None) -> bool:
    """Whether `account` can traverse every existing parent of `path`."""
    if account is None:
        return True
    for parent in [path, *path.parents]:
        if not parent.exists():
            continue
        st = parent.stat()
        if st.st_uid == account.pw_uid:
            continue
        if not st.st_mode & 0o001:
            return False
    return True


class EmbeddedPostgres:
    """One PostgreSQL cluster belonging to a data directory."""

    def __init__(
        self,
        data_dir: Path,
        *,
        tcp_port: int = 0,
        max_connections: int = 200,
        options: Mapping[str, str] | None = None,
        backups_dir: Path | None = None,
        archive_timeout: float = 60.0,
        slow_statement_time: float = 1.0,
    ) -> None:
        self.data_dir = data_dir.resolve()
        self.tcp_port = tcp_port
        self.max_connections = max_connections
        self.options = dict(options or {})
        self.account = _server_account()
        self.root = self._cluster_root()
        self.pgdata = self.root / "pgdata"
        self.socket_dir = self.root / "socket"
        self.log_file = self.root / "postgres.log"
        self.archive_timeout = archive_timeout
        self.slow_statement_time = slow_statement_time
        self.wal_archive = None if backups_dir is None else self._wal_archive_in(backups_dir.resolve())
        self._process: subprocess.Popen[bytes] | None = None

    def _wal_archive_in(self, backups_dir: Path) -> Path:
        """Where the server archives WAL: ``<backups>/wal``, or beside the cluster when it cannot reach that."""
        wanted = backups_dir / "wal"
        if _reachable_by(wanted, self.account):
            return wanted
        return self.root / "wal-archive"

    def _cluster_root(self) -> Path:
        """Where the cluster lives: in the data directory, or where the server account can reach it."""
        pointer = self.data_dir / "postgres.location"
        if pointer.exists():
            return Path(pointer.read_text().strip())
        inside = self.data_dir / "postgres"
        if _reachable_by(inside, self.account):
            return inside
        digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
        outside = Path("/var/tmp") / f"jaan-postgres-{digest}"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pointer.write_text(f"{outside}\n")
        log.info(
            "data directory %s is not reachable by %s; cluster placed at %s",
            self.data_dir,
            self.account.pw_name if self.account else "us",
            outside,
        )
        return outside

    @property
    def dsn(self) -> str:
        return f"host={self.socket_dir} port={self.port} dbname={DATABASE} user={SUPERUSER} password={self.password()}"

    def url(self) -> str:
        return f"postgresql://{SUPERUSER}:{self.password()}@/{DATABASE}?host={self.socket_dir}&port={self.port}"

    @property
    def port(self) -> int:
        """The port (which also names the unix socket): the running server's, else the one we would start on."""
        with contextlib.suppress(FileNotFoundError, IndexError, ValueError):
            return int((self.pgdata / "postmaster.pid").read_text().split("\n")[3])
        return self.tcp_port or 5432

    @property
    def password_file(self) -> Path:
        return self.data_dir / PASSWORD_FILE

    def password(self) -> str:
        """The superuser's password, generated into the data directory (mode 0600) on first use."""
        with contextlib.suppress(FileNotFoundError):
            return self.password_file.read_text().strip()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        draft = self.data_dir / f".{PASSWORD_FILE}.{os.getpid()}"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_urlsafe(32) + "\n")
        try:
            os.link(draft, self.password_file)  # whole, and only once: another command may race us
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return self.password_file.read_text().strip()

    # -- state --------------------------------------------------------------------------------

    def running_pid(self) -> int | None:
        """The postmaster's pid when this cluster is running, else None (a stale pid file is removed)."""
        pid_file = self.pgdata / "postmaster.pid"
        try:
            pid = int(pid_file.read_text().split("\n", 1)[0])
        except (FileNotFoundError, ValueError):
            return None
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except FileNotFoundError:
            cmdline = b""
        if b"postgres" in cmdline and str(self.pgdata).encode() in cmdline:
            return pid
        log.warning("removing stale PostgreSQL pid file of pid %d (crashed earlier run)", pid)
        pid_file.unlink(missing_ok=True)
        for lock in self.socket_dir.glob(".s.PGSQL.*.lock"):
            lock.unlink(missing_ok=True)
        return None

    # -- lifecycle ----------------------------------------------------------------------------

    def _as_server(self) -> dict[str, object]:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _own(self, path: Path, mode: int) -> None:
        path.mkdir(parents=True, exist_ok=True)
        path.chmod(mode)
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _initdb(self, binaries: Path) -> None:
        log.info("initialising PostgreSQL cluster at %s", self.pgdata)
        self._own(self.root, 0o755)
        self._own(self.pgdata, 0o700)
        result = subprocess.run(
            [
                str(binaries / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                SUPERUSER,
                "-E",
                "UTF8",
                "--locale=C",
                "--auth-local=trust",
                "--auth-host=trust",
                "--no-sync",
            ],
            capture_output=True,
            **self._as_server(),  # type: ignore[call-overload]
        )
        if result.returncode != 0:
            shutil.rmtree(self.pgdata, ignore_errors=True)
            raise EmbeddedPostgresError(f"initdb failed: {result.stderr.decode(errors='replace')}")

    def launch(self) -> None:
        """Initialise the cluster if needed and start the postmaster, without waiting for it."""
        binaries = find_binaries()
        if not (self.pgdata / "PG_VERSION").exists():
            self._initdb(binaries)
        self._own(self.socket_dir, 0o700)
        self._write_pg_hba()
        settings = {
            **self._archiving(),
            **self._statement_statistics(binaries),
            "listen_addresses": "127.0.0.1" if self.tcp_port else "",
            "port": str(self.tcp_port or 5432),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            "timezone": "UTC",
            "log_timezone": "UTC",
            "logging_collector": "off",
            **self.options,
        }
        command = [str(binaries / "postgres"), "-D", str(self.pgdata)]
        for key, value in settings.items():
            command += ["-c", f"{key}={value}"]
        log_handle = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=log_handle,
            stderr=subprocess.STDOUT,
            preexec_fn=_die_with_parent,
            **self._as_server(),  # type: ignore[call-overload]
        )
        log_handle.close()

    def _statement_statistics(self, binaries: Path) -> dict[str, str]:
        """pg_stat_statements (bin/serve status --queries) and auto_explain (slow plans in the log)."""
        libraries = [name for name in ("pg_stat_statements", "auto_explain") if _has_library(binaries, name)]
        if not libraries:
            return {}
        settings = {"shared_preload_libraries": ",".join(libraries)}
        if "auto_explain" in libraries:
            threshold = int(self.slow_statement_time * 1000) if self.slow_statement_time > 0 else -1
            settings["auto_explain.log_min_duration"] = str(threshold)
        return settings

    def _archiving(self) -> dict[str, str]:
        """Continuous WAL archiving into :attr:`wal_archive` (for point-in-time restore)."""
        if self.wal_archive is None:
            return {}
        self.wal_archive.parent.mkdir(parents=True, exist_ok=True)
        self._own(self.wal_archive, 0o700)
        target = shlex.quote(str(self.wal_archive))
        return {
            "archive_mode": "on",
            # Never overwrite a segment already archived; write under a temporary name, then rename.
            "archive_command": f"test ! -f {target}/%f && cp %p {target}/%f.part && mv {target}/%f.part {target}/%f",
            "archive_timeout": str(int(self.archive_timeout)),
        }

    def start(self, timeout: float = 30.0) -> None:
        """Initialise the cluster if needed and start it; it stops when this process exits."""
        self.launch()
        self._wait_ready(timeout)
        self._set_password()
        self._create_database()

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The postmaster this object started (None: none, or it was stopped)."""
        return self._process

    def accepts_connections(self) -> bool:
        """Whether the server answers now (one quick attempt; False while it starts or recovers)."""
        try:
            psycopg2.connect(self.dsn, connect_timeout=2).close()
        except psycopg2.OperationalError:
            return False
        return True

    def _write_pg_hba(self) -> None:
        hba = self.pgdata / "pg_hba.conf"
        hba.write_text(PG_HBA)
        hba.chmod(0o600)
        if self.account is not None:
            os.chown(hba, self.account.pw_uid, self.account.pw_gid)

    def _set_password(self) -> None:
        """Give the superuser the data directory's password (over the socket, which trusts us)."""
        conn = psycopg2.connect(self.dsn.replace(f"dbname={DATABASE}", "dbname=postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SET password_encryption = 'scram-sha-256'")
                cur.execute(f'ALTER ROLE "{SUPERUSER}" PASSWORD %s', (self.password(),))
        finally:
            conn.close()

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        dsn = self.dsn.replace(f"dbname={DATABASE}", "dbname=postgres")
        while True:
            assert self._process is not None
            if self._process.poll() is not None:
                raise EmbeddedPostgresError(f"PostgreSQL exited at start:\n{self.log_tail()}")
            try:
                psycopg2.connect(dsn, connect_timeout=2).close()
                return
            except psycopg2.OperationalError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise EmbeddedPostgresError(
                        f"PostgreSQL did not start in {timeout:.0f}s:\n{self.log_tail()}"
                    ) from None
                time.sleep(0.05)

    def _create_database(self) -> None:
        conn = psycopg2.connect(self.dsn.replace(f"dbname={DATABASE}", "dbname=postgres"))
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,))
                if cur.fetchone() is None:
                    cur.execute(f'CREATE DATABASE "{DATABASE}"')
        finally:
            conn.close()
        conn = psycopg2.connect(self.dsn)
        conn.autocommit = True
        try:
            with conn.cursor() as cur:
                cur.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'pg_stat_statements'")
                if cur.fetchone() is not None:
                    cur.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
        finally:
            conn.close()

    def stop(self, timeout: float = 30.0) -> None:
        """Stop the cluster this object started (fast shutdown: open transactions roll back).

        A postmaster someone else started on the same files while ours was down (by hand,
        after a crash) is stopped too: whoever started the cluster owns its end.
        """
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        stranger = self.running_pid()
        if stranger is not None:
            log.warning("stopping the PostgreSQL (pid %d) started on this cluster by someone else", stranger)
            with contextlib.suppress(ProcessLookupError):
                os.kill(stranger, signal.SIGINT)
            deadline = time.monotonic() + timeout
            while Path(f"/proc/{stranger}").exists() and time.monotonic() < deadline:
                time.sleep(0.05)

    def log_tail(self, lines: int = 20) -> str:
        with contextlib.suppress(FileNotFoundError):
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        return ""


def _has_library(binaries: Path, name: str) -> bool:
    """Whether the server can load the contrib library ``name`` (packaged with the binaries or not)."""
    lib = binaries.parent / "lib"
    return any((directory / f"{name}.so").exists() for directory in (lib, lib / "postgresql"))


def _die_with_parent() -> None:
    # Runs in the child after the switch to the server account (which clears the setting).
    # SIGINT is PostgreSQL's fast shutdown: a killed parent leaves no orphaned cluster.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGINT)
    os.setpgrp()  # a Ctrl-C in the terminal goes to us, and we stop the cluster in order


@contextlib.contextmanager
def embedded_database(data_dir: Path, **kwargs: object) -> Iterator[str]:
    """Yield the DSN of the data directory's cluster, starting it for this block if needed."""
    with embedded_cluster(data_dir, **kwargs) as (cluster, _):
        yield cluster.dsn


@contextlib.contextmanager
def embedded_cluster(data_dir: Path, **kwargs: object) -> Iterator[tuple[EmbeddedPostgres, bool]]:
    """Yield the data directory's cluster and whether this block started it (and will stop it)."""
    cluster = EmbeddedPostgres(data_dir, **kwargs)  # type: ignore[arg-type]
    (cluster.data_dir / "run").mkdir(parents=True, exist_ok=True)
    with open(cluster.data_dir / "run" / "postgres.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two commands starting at once start one cluster
        started = cluster.running_pid() is None
        if started:
            begun = time.monotonic()
            cluster.start()
            log.info("embedded PostgreSQL started in %.2fs (%s)", time.monotonic() - begun, cluster.root)
        else:
            log.info("using the embedded PostgreSQL already running at %s", cluster.root)
        fcntl.flock(lock, fcntl.LOCK_UN)
    try:
        yield cluster, started
    finally:
        if started:
            cluster.stop()
