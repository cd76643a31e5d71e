"""Every setting of the service, declared once.

Each field of :class:`Settings` carries its environment variable and a one-line
meaning in its metadata.  The environment, ``bin/serve`` flags and the README's
configuration table are all derived from (or checked against) this one list.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MB = 1024 * 1024
ACCEPT_QUEUES = ("per-worker", "shared")


def _setting(default: Any, env: str, meaning: str, flag: bool = True) -> Any:
    return field(default=default, metadata={"env": env, "meaning": meaning, "flag": flag})


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {text!r}")


def _parse_list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    database_url: str | None = _setting(
        None,
        "DATABASE_URL",
        "PostgreSQL URL; unset means the embedded PostgreSQL of the data directory",
        flag=False,
    )
    database_listen_url: str | None = _setting(
        None,
        "DATABASE_LISTEN_URL",
        "PostgreSQL URL straight to the primary, for LISTEN and migrations (set when DATABASE_URL is a pooler);"
        " unset: DATABASE_URL",
        flag=False,
    )
    database_replica_url: tuple[str, ...] = _setting(
        (),
        "DATABASE_REPLICA_URL",
        "comma-separated PostgreSQL URLs of streaming replicas the catalogue may be read from (none: the primary)",
        flag=False,
    )
    replica_max_lag: float = _setting(
        5.0, "JAAN_REPLICA_MAX_LAG", "seconds a replica may lag behind the primary before reads skip it"
    )
    replica_wait: float = _setting(
        0.5,
        "JAAN_REPLICA_WAIT",
        "seconds a read after a change waits for a replica to replay it before reading the primary instead",
    )
    db_pooler_connections: int = _setting(
        0,
        "JAAN_DB_POOLER_CONNECTIONS",
        "DATABASE_URL is a transaction-mode pooler (PgBouncer) whose pool holds this many server connections"
        " for this host: the budget is planned against it, not max_connections (0: no pooler)",
    )
    data_dir: Path = _setting(
        PROJECT_ROOT / "var",
        "JAAN_DATA_DIR",
        "directory for the embedded database and runtime files (control socket, pid files, uploads)",
    )
    host: str = _setting("127.0.0.1", "JAAN_HOST", "address the HTTP server listens on")
    port: int = _setting(3001, "JAAN_PORT", "port the HTTP server listens on")
    workers: str = _setting("auto", "JAAN_WORKERS", "worker processes: a number, or auto for the usable CPUs")
    pool_min: int = _setting(10, "JAAN_POOL_MIN", "database connections each pool keeps open")
    pool_max: int = _setting(50, "JAAN_POOL_MAX", "most database connections one pool opens")
    connect_timeout: float = _setting(
        2.0,
        "JAAN_CONNECT_TIMEOUT",
        "seconds to wait for a pooled database connection before answering 503 Service busy",
    )
    statement_timeout: float = _setting(
        60.0, "JAAN_STATEMENT_TIMEOUT", "seconds the database lets one SQL statement run"
    )
    lock_timeout: float = _setting(5.0, "JAAN_LOCK_TIMEOUT", "seconds a statement may wait for a row or table lock")
    pool_recycle: float = _setting(
        30.0, "JAAN_POOL_RECYCLE", "seconds after which an idle pooled connection is replaced"
    )
    request_timeout: float = _setting(
        60.0,
        "JAAN_REQUEST_TIMEOUT",
        "seconds a request may take before it is cancelled (with its SQL) and answered 503",
    )
    max_body_size: int = _setting(
        1 * MB, "JAAN_MAX_BODY_SIZE", "largest request body in bytes, unless a route allows more"
    )
    max_upload_size: int = _setting(
        50 * MB, "JAAN_MAX_UPLOAD_SIZE", "largest body in bytes a route may allow (uploads)"
    )
    whole_list_max_rows: int = _setting(
        20_000,
        "JAAN_WHOLE_LIST_MAX_ROWS",
        "most rows admin inventory and admin users return without page/per_page (more: 400, ask for pages)",
    )
    cors_origins: tuple[str, ...] = _setting(
        (),
        "JAAN_CORS_ORIGINS",
        "comma-separated origins allowed to call the API from a browser with credentials",
    )
    compress_min_size: int = _setting(
        1024, "JAAN_COMPRESS_MIN_SIZE", "smallest response body in bytes worth compressing"
    )
    log_level: str = _setting("INFO", "JAAN_LOG_LEVEL", "logging level: DEBUG, INFO, WARNING or ERROR")
    log_json: bool = _setting(False, "JAAN_LOG_JSON", "write logs and the access log as JSON lines")
    access_log: bool = _setting(True, "JAAN_ACCESS_LOG", "write one access-log line per request")
    embedded_pg_port: int = _setting(
        0,
        "JAAN_EMBEDDED_PG_PORT",
        "also let the embedded PostgreSQL listen on this loopback TCP port (0: unix socket only)",
    )
    backup_dir: str = _setting(
        "",
        "JAAN_BACKUP_DIR",
        "where bin/backup puts base backups and the embedded PostgreSQL archives its WAL (empty: <data dir>/backups)",
    )
    archive_timeout: float = _setting(
        60.0,
        "JAAN_ARCHIVE_TIMEOUT",
        "seconds after which the embedded PostgreSQL archives a partly filled WAL segment (the most a restore loses)",
    )
    slow_request_time: float = _setting(
        2.0,
        "JAAN_SLOW_REQUEST_TIME",
        "seconds after which a request logs one line with its request id, route, total and SQL time (0: off)",
    )
    slow_statement_time: float = _setting(
        1.0,
        "JAAN_SLOW_STATEMENT_TIME",
        "seconds after which the embedded PostgreSQL logs a statement with its plan (auto_explain; 0: off)",
    )
    # -- the pre-fork supervisor (bin/serve) --------------------------------------------------
    backlog: int = _setting(4096, "JAAN_BACKLOG", "listen backlog: connections the kernel queues before accept")
    accept_queues: str = _setting(
        "per-worker",
        "JAAN_ACCEPT_QUEUES",
        "per-worker: each worker listens on a socket of its own (SO_REUSEPORT; the kernel spreads new"
        " connections over their queues; set net.ipv4.tcp_migrate_req=1, see Operating); shared: one socket"
        " and queue for all",
    )
    reuse_port: bool = _setting(
        False,
        "JAAN_REUSE_PORT",
        "set SO_REUSEPORT so another server (a blue/green twin) may bind the same port",
    )
    ready_timeout: float = _setting(
        30.0, "JAAN_READY_TIMEOUT", "seconds a new worker may take to become ready before it is killed"
    )
    timeout: float = _setting(
        30.0, "JAAN_TIMEOUT", "seconds without a heartbeat from a worker's event loop before it is killed"
    )
    graceful_timeout: float = _setting(
        30.0, "JAAN_GRACEFUL_TIMEOUT", "seconds a stopping worker may spend finishing in-flight requests"
    )
    min_uptime: float = _setting(
        5.0, "JAAN_MIN_UPTIME", "a worker that dies younger than this many seconds counts as a failed start"
    )
    max_restarts: int = _setting(
        5, "JAAN_MAX_RESTARTS", "failed starts in a row after which bin/serve gives up and exits non-zero"
    )
    max_memory: int = _setting(
        1024, "JAAN_MAX_MEMORY", "megabytes of RSS above which a worker is gracefully replaced (0: no limit)"
    )
    max_requests: int = _setting(
        0, "JAAN_MAX_REQUESTS", "requests after which a worker is gracefully replaced (0: never)"
    )
    max_requests_jitter: int = _setting(
        0,
        "JAAN_MAX_REQUESTS_JITTER",
        "random extra requests (0..this) per worker, so workers do not recycle at once",
    )
    pid_file: str = _setting("", "JAAN_PID_FILE", "write the master's pid here once every worker is ready")
    db_budget: int = _setting(
        0,
        "JAAN_DB_BUDGET",
        "database connections the whole service may hold (0: 4 x usable CPUs, at least 3 per pool)",
    )
    db_reserve: int = _setting(
        10, "JAAN_DB_RESERVE", "connections of the server's max_connections left for migrations, admins, psql"
    )
    response_cache_mb: int = _setting(
        24,
        "JAAN_RESPONSE_CACHE_MB",
        "megabytes of answers each worker's response cache keeps (bodies and bookkeeping); past it the least"
        " recently used go first",
    )
    listen_probe_interval: float = _setting(
        2.0,
        "JAAN_LISTEN_PROBE_INTERVAL",
        "seconds between the LISTEN connection's liveness probes (a NOTIFY to itself)",
    )
    listen_probe_timeout: float = _setting(
        3.0,
        "JAAN_LISTEN_PROBE_TIMEOUT",
        "seconds of silence (no notification, no probe echo) during a liveness probe before the LISTEN connection is"
        " presumed dead and replaced",
    )
    db_listen_connections: int = _setting(
        1, "JAAN_DB_LISTEN_CONNECTIONS", "LISTEN connections each worker may hold outside its pool"
    )
    keepalive_timeout: float = _setting(
        75.0,
        "JAAN_KEEPALIVE_TIMEOUT",
        "seconds an idle keep-alive connection stays open; keep it above the proxy's (nginx: 60)",
    )
    header_timeout: float = _setting(
        10.0, "JAAN_HEADER_TIMEOUT", "seconds a client may take to send a request's line and headers"
    )
    body_min_rate: int = _setting(
        1024,
        "JAAN_BODY_MIN_RATE",
        "slowest request body in bytes/s, averaged after header_timeout seconds (0: no limit)",
    )
    monitor: bool = _setting(True, "JAAN_MONITOR", "start aiomonitor (loopback only) in every worker")
    monitor_port_base: int = _setting(
        20100,
        "JAAN_MONITOR_PORT_BASE",
        "first aiomonitor port; worker slot s uses base+6(s-1)..+5 (terminal, web UI, console; two sets)",
    )
    monitor_console: bool = _setting(
        False, "JAAN_MONITOR_CONSOLE", "also open aiomonitor's Python console (an unauthenticated prompt)"
    )
    monitor_web: bool = _setting(
        False,
        "JAAN_MONITOR_WEB",
        "also open aiomonitor's web UI (loopback; it can cancel any task, unauthenticated)",
    )
    # -- accounts and the catalogue -----------------------------------------------------------
    public_url: str = _setting(
        "",
        "JAAN_PUBLIC_URL",
        "base URL clients reach the API at, for links such as uploads (empty: http://host:port)",
    )
    trusted_proxies: tuple[str, ...] = _setting(
        (), "JAAN_TRUSTED_PROXIES", "comma-separated proxy addresses whose X-Forwarded-For names the client"
    )
    metrics_scrapers: tuple[str, ...] = _setting(
        (),
        "JAAN_METRICS_SCRAPERS",
        "comma-separated addresses or networks that may GET /metrics besides loopback and trusted_proxies"
        " (0.0.0.0/0,::/0: anyone)",
    )
    cookie_secure: bool = _setting(False, "JAAN_COOKIE_SECURE", "mark the session cookie Secure (serve over HTTPS)")
    session_days: int = _setting(7, "JAAN_SESSION_DAYS", "days a session lasts from sign-in")
    password_cost: int = _setting(
        15,
        "JAAN_PASSWORD_COST",
        "scrypt cost as log2(N): 15 takes 32 MB and ~0.1 s per hash; each step doubles",
    )
    password_min_length: int = _setting(10, "JAAN_PASSWORD_MIN_LENGTH", "shortest password accepted at sign-up")
    signin_max_failures: int = _setting(
        5,
        "JAAN_SIGNIN_MAX_FAILURES",
        "failed sign-ins per account from one client address within the window before that address is refused",
    )
    signin_max_failures_per_account: int = _setting(
        50,
        "JAAN_SIGNIN_MAX_FAILURES_PER_ACCOUNT",
        "failed sign-ins per account from all addresses within the window before 429 (the ceiling)",
    )
    signin_max_failures_per_address: int = _setting(
        30,
        "JAAN_SIGNIN_MAX_FAILURES_PER_ADDRESS",
        "failed sign-ins per client address within the window before 429",
    )
    signin_window: float = _setting(
        900.0, "JAAN_SIGNIN_WINDOW", "seconds over which failed sign-ins are counted, and the lock-out lasts"
    )
    signup_max_per_address: int = _setting(
        20, "JAAN_SIGNUP_MAX_PER_ADDRESS", "sign-ups per client address within abuse_window before 429"
    )
    contact_max_per_address: int = _setting(
        10, "JAAN_CONTACT_MAX_PER_ADDRESS", "contact-form posts per client address within abuse_window before 429"
    )
    abuse_window: float = _setting(
        3600.0, "JAAN_ABUSE_WINDOW", "seconds over which sign-ups and contact-form posts per address are counted"
    )
    events_heartbeat: float = _setting(
        15.0,
        "JAAN_EVENTS_HEARTBEAT",
        "seconds between keep-alives on an idle event stream (WebSocket ping, SSE comment)",
    )
    events_buffer: int = _setting(
        1000, "JAAN_EVENTS_BUFFER", "events buffered for one slow subscriber before its stream is closed (4008)"
    )
    events_retention_days: int = _setting(
        7, "JAAN_EVENTS_RETENTION_DAYS", "days events are kept for clients resuming a stream; older ones are pruned"
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Build settings from the environment, then apply non-None overrides (flags)."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for spec in dataclasses.fields(cls):
            raw = environ.get(spec.metadata["env"])
            if raw is not None and raw != "":
                values[spec.name] = parse_value(spec, raw)
        values.update({k: v for k, v in overrides.items() if v is not None})
        settings = cls(**values)
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.pool_min < 0 or self.pool_max < 1 or self.pool_min > self.pool_max:
            raise ValueError("pool_min must be between 0 and pool_max, and pool_max at least 1")
        if self.whole_list_max_rows < 1:
            raise ValueError("whole_list_max_rows must be at least 1")
        if self.max_body_size > self.max_upload_size:
            raise ValueError("max_body_size cannot exceed max_upload_size")
        for name in (
            "connect_timeout",
            "statement_timeout",
            "lock_timeout",
            "request_timeout",
            "events_heartbeat",
            "events_buffer",
            "events_retention_days",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.response_cache_mb < 1:
            raise ValueError("response_cache_mb must be at least 1")
        if self.accept_queues not in ACCEPT_QUEUES:
            raise ValueError(f"accept_queues must be one of {', '.join(ACCEPT_QUEUES)}, not {self.accept_queues!r}")
        if self.db_pooler_connections < 0:
            raise ValueError("db_pooler_connections cannot be negative")
        if self.db_pooler_connections and not self.database_listen_url:
            raise ValueError(
                "behind a pooler (JAAN_DB_POOLER_CONNECTIONS) set DATABASE_LISTEN_URL to the primary itself:"
                " LISTEN and the migrations' advisory lock need a session of their own"
            )
        for origin in self.cors_origins:
            if origin == "*" or "://" not in origin:
                raise ValueError(f"CORS origin must be a full origin (https://shop.example), not {origin!r}")

    @property
    def run_dir(self) -> Path:
        """Runtime files: control socket, pid files."""
        return self.data_dir / "run"

    @property
    def backups_dir(self) -> Path:
        """Base backups (``base-*``) and, for the embedded cluster, the WAL archive (``wal/``)."""
        return Path(self.backup_dir).expanduser().resolve() if self.backup_dir else self.data_dir / "backups"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    def redacted(self) -> dict[str, Any]:
        """Settings as plain values, with passwords hidden (for logs, status and monitors)."""
        out: dict[str, Any] = {}
        for spec in dataclasses.fields(self):
            value = getattr(self, spec.name)
            if spec.name in ("database_url", "database_listen_url") and value:
                value = redact_url(value)
            if spec.name == "database_replica_url":
                value = tuple(redact_url(url) for url in value)
            out[spec.name] = str(value) if isinstance(value, Path) else value
        return out


def parse_value(spec: dataclasses.Field[Any], raw: str) -> Any:
    """Turn the text of an environment variable or flag into the field's type."""
    kind = spec.type
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return _parse_bool(raw)
        if kind == "Path":
            return Path(raw).expanduser().resolve()
        if kind == "tuple[str, ...]":
            return _parse_list(raw)
    except ValueError as exc:
        raise ValueError(f"{spec.metadata['env']}: {exc}") from None
    return raw


def redact_url(url: str) -> str:
    """Hide the password of a database URL or libpq DSN."""
    import re

    url = re.sub(r"(://[^:/@]*:)[^@]*@", r"\1***@", url)
    return re.sub(r"(password\s*=\s*)\S+", r"\1***", url)


def describe() -> list[tuple[str, str, str, str]]:
    """(field, environment variable, default, meaning) for every setting, in order."""
    rows = []
    for spec in dataclasses.fields(Settings):
        default = spec.default
        if isinstance(default, Path):
            shown = "var/ at the project root"
        elif isinstance(default, tuple):
            shown = ",".join(default) or "(none)"
        elif default is None:
            shown = "(unset)"
        else:
            shown = str(default)
        rows.append((spec.name, spec.metadata["env"], shown, spec.metadata["meaning"]))
    return rows


def markdown_table() -> str:
    """The README's configuration table."""
    lines = ["| setting | environment variable | default | meaning |", "|---|---|---|---|"]
    for name, env, default, meaning in describe():
        lines.append(f"| `{name}` | `{env}` | `{default}` | {meaning} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown_table())
