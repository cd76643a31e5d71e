"""Finding the database every command uses: DATABASE_URL, else the data directory's embedded cluster."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from jaan.db.embedded import embedded_database
from jaan.settings import Settings


@contextlib.contextmanager
def database_dsn(settings: Settings, max_connections: int = 200, *, direct: bool = False) -> Iterator[str]:
    """Yield the DSN to connect to, starting the embedded cluster for this block when needed.

    `direct`: the primary itself (``DATABASE_LISTEN_URL`` when set), never a transaction pooler,
    for work that needs a session of its own (migrations' advisory lock, seeding, admin commands).

    A cluster that another command (a running ``bin/serve``) already started is used
    and left running; one started here is stopped when the block ends.
    """
    if settings.database_url:
        yield (direct and settings.database_listen_url) or settings.database_url
        return
    with embedded_database(
        settings.data_dir, tcp_port=settings.embedded_pg_port, max_connections=max_connections
    ) as dsn:
        yield dsn
