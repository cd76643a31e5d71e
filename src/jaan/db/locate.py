"""Finding the database every command uses: DATABASE_URL, else the data directory's embedded cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass

from jaan.db.embedded import EmbeddedPostgres, embedded_cluster
from jaan.settings import Settings


@dataclass(frozen=True)
class Located:
    """The DSN to connect to, and the embedded cluster when this command started it (ours to look after)."""

    dsn: str
    kind: str  # "external" (DATABASE_URL), "embedded", or "embedded, started by another command"
    cluster: EmbeddedPostgres | None = None


@contextlib.contextmanager
def locate_database(settings: Settings, max_connections: int = 200, *, direct: bool = False) -> Iterator[Located]:
    """The database for this block, starting the embedded cluster for it when needed.

    `direct`: the primary itself (``DATABASE_LISTEN_URL`` when set), never a transaction pooler,
    for work that needs a session of its own (migrations' advisory lock, seeding, admin commands).

    A cluster that another command (a running ``bin/serve``) already started is used
    and left running; one started here is stopped when the block ends.
    """
    if settings.database_url:
        yield Located((direct and settings.database_listen_url) or settings.database_url, "external")
        return
    with embedded_cluster(
        settings.data_dir,
        tcp_port=settings.embedded_pg_port,
        max_connections=max_connections,
        backups_dir=settings.backups_dir,
        archive_timeout=settings.archive_timeout,
        slow_statement_time=settings.slow_statement_time,
    ) as (cluster, started):
        if started:
            yield Located(cluster.dsn, "embedded", cluster)
        else:
            yield Located(cluster.dsn, "embedded, started by another command")


@contextlib.contextmanager
def database_dsn(settings: Settings, max_connections: int = 200, *, direct: bool = False) -> Iterator[str]:
    """Yield the DSN to connect to (see :func:`locate_database`)."""
    with locate_database(settings, max_connections, direct=direct) as located:
        yield located.dsn
