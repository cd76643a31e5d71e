"""The database as handlers use it: an aiopg pool with the guards aiopg lacks.

aiopg's traps, and what this module does about each:

* its pool ``timeout`` applies to every query and cuts it client-side only, so we give the
  pool a generous backstop and bound *getting* a connection ourselves (``connect_timeout``):
  an exhausted pool answers :class:`DatabaseBusy` fast instead of hanging;
* it turns a server-side ``statement_timeout`` into a bare ``asyncio.CancelledError``, which
  would look like the request being cancelled; we turn it back into :class:`StatementTimeout`
  unless our own task really is being cancelled;
* a connection released inside a transaction goes back to the pool as is, so
  :meth:`Database.transaction` always commits or rolls back, and closes (rather than returns)
  any connection whose state it cannot vouch for;
* when a request times out, aiopg closes the connection but the server would keep running the
  statement; ``client_connection_check_interval`` makes the server notice and cancel it.

No session state: the timeouts, the time zone and the client check travel with every
transaction as ``set_config(..., true)`` (``SET LOCAL``), never as a session ``SET``, so the
same code is correct through PgBouncer in transaction mode, where consecutive transactions of
one client run on different server connections and a session ``SET`` would leak to whichever
client gets that server connection next.  Statements are sent with the simple query protocol
(psycopg2 interpolates parameters client-side), so no prepared statement is ever relied on.
A one-statement query outside :meth:`Database.transaction` carries the same prelude in its
query string: PostgreSQL runs a multi-statement query string as one implicit transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiopg
import psycopg2
import psycopg2.extensions
import psycopg2.extras

from jaan.db.errors import DatabaseBusy, DatabaseUnavailable, StatementTimeout
from jaan.metrics import DB_ACQUIRE, DB_QUERY, Tally

log = logging.getLogger(__name__)
# Observed on every statement and checkout: tallied in the worker (see jaan.metrics.Tally).
_QUERIES, _ACQUIRES = Tally(DB_QUERY), Tally(DB_ACQUIRE)

Row = dict[str, Any]
DICT_ROWS = psycopg2.extras.RealDictCursor


class SqlClock:
    """The time one request spent waiting for SQL statements, summed by :meth:`Cursor.execute`."""

    __slots__ = ("seconds", "statements")

    def __init__(self) -> None:
        self.seconds = 0.0
        self.statements = 0


# Set per request (jaan.web.slow_requests); the tasks a handler starts share it.
SQL_CLOCK: contextvars.ContextVar[SqlClock | None] = contextvars.ContextVar("jaan_sql_clock", default=None)
Params = Sequence[Any] | dict[str, Any] | None


@dataclass(frozen=True)
class PoolConfig:
    dsn: str
    min_size: int = 10
    max_size: int = 50
    connect_timeout: float = 2.0
    statement_timeout: float = 60.0
    lock_timeout: float = 5.0
    recycle: float = 30.0
    # How often the server checks that the client is still there during a long statement.
    client_check_interval: float = 1.0

    def session_prelude(self, server_version: int = 150000) -> bytes:
        """The statement that gives one transaction our settings (``SET LOCAL``: gone at its end)."""
        millis = {
            "statement_timeout": self.statement_timeout,
            "lock_timeout": self.lock_timeout,
            "idle_in_transaction_session_timeout": self.statement_timeout,
        }
        if server_version >= 140000:  # the setting is new in PostgreSQL 14
            millis["client_connection_check_interval"] = self.client_check_interval
        values = [*(f"set_config('{name}', '{int(seconds * 1000)}', true)" for name, seconds in millis.items())]
        values.append("set_config('TimeZone', 'UTC', true)")
        return ("SELECT " + ", ".join(values)).encode()


def _is_our_cancellation() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


class Cursor:
    """A cursor on one connection, returning rows as dicts.

    Statements queued with :meth:`later` (and a transaction's BEGIN) travel with the next
    statement in one round trip: a checkout holds its product rows for fewer network waits.
    """

    def __init__(self, raw: aiopg.Cursor, prelude: bytes, *, begin: bool = False) -> None:
        self._raw = raw
        # In a transaction the prelude rides once, with BEGIN; outside one, with every statement.
        self._prelude = b"" if begin else prelude
        self._pending: list[bytes] = [b"BEGIN", prelude] if begin else []

    def later(self, sql: str, params: Params = None) -> None:
        """Queue a statement whose result nobody reads; it runs (in order) before the next one.

        An error in it surfaces on that next statement, still inside the same transaction.
        """
        self._pending.append(self._raw.mogrify(sql, params))

    async def flush(self) -> None:
        """Send what :meth:`later` queued, now."""
        if self._pending:
            await self.execute("SELECT 1")

    async def execute(self, sql: str, params: Params = None) -> None:
        what = sql.split(None, 1)[0] if sql.strip() else sql
        if self._pending or self._prelude:
            statements = [*self._pending, self._raw.mogrify(sql, params)]
            if self._prelude:
                statements.insert(0, self._prelude)
            self._pending.clear()
            sql, params = b"; ".join(statements).decode(), None
        started = time.perf_counter()
        try:
            await self._raw.execute(sql, params)
        except asyncio.CancelledError:
            if _is_our_cancellation():
                raise
            raise StatementTimeout(what) from None
        finally:
            elapsed = time.perf_counter() - started
            _QUERIES.observe(elapsed)
            clock = SQL_CLOCK.get()
            if clock is not None:
                clock.seconds += elapsed
                clock.statements += 1

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        await self.execute(sql, params)
        return list(await self._raw.fetchall())

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        await self.execute(sql, params)
        row: Row | None = await self._raw.fetchone()
        return row

    async def fetch_value(self, sql: str, params: Params = None) -> Any:
        await self.execute(sql, params)
        row = await self._raw.fetchone()
        return None if row is None else next(iter(row.values()))

    @property
    def rowcount(self) -> int:
        return int(self._raw.rowcount)


class Database:
    """One worker's pool.  Use :meth:`transaction` for every multi-step write."""

    def __init__(self, config: PoolConfig) -> None:
        self.config = config
        self._pool: aiopg.Pool | None = None
        self._prelude = config.session_prelude()
        self._gate = asyncio.Semaphore(config.max_size)
        self._waiting = 0

    async def open(self) -> None:
        self._gate = asyncio.Semaphore(self.config.max_size)
        self._pool = await aiopg.create_pool(
            self.config.dsn,
            minsize=self.config.min_size,
            maxsize=self.config.max_size,
            # A client-side backstop only: the server's statement_timeout cancels first.
            timeout=self.config.statement_timeout + 10,
            pool_recycle=self.config.recycle,
            enable_hstore=False,
        )
        # The server's version, from a connection the pool has just opened (an empty pool assumes a
        # recent server rather than connect here: a replica may be down, see jaan.db.replicas).
        if self.config.min_size > 0:
            with contextlib.suppress(psycopg2.Error, OSError):  # a database still starting: assume a recent one
                async with self._pool.acquire() as conn:
                    self._prelude = self.config.session_prelude(conn.raw.server_version)

    async def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            await self._pool.wait_closed()
            self._pool = None

    @property
    def pool(self) -> aiopg.Pool:
        if self._pool is None:
            raise DatabaseUnavailable("the database pool is not open")
        return self._pool

    def stats(self) -> dict[str, int | None]:
        """Pool sizes for status output and monitors (``waiting``: requests queued for a connection)."""
        pool = self.pool
        return {
            "size": pool.size,
            "free": pool.freesize,
            "min": pool.minsize,
            "max": pool.maxsize,
            "waiting": self._waiting,
        }

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[aiopg.Connection]:
        """A pooled connection, or DatabaseBusy when none frees up within the connect timeout.

        Requests queue first, first come first served, at a gate as wide as the pool: aiopg's own
        wait lets a newcomer take a connection released for an older waiter, which under load
        left some requests waiting past the timeout while others never waited.
        """
        self._waiting += 1
        started = time.perf_counter()
        try:
            async with asyncio.timeout(self.config.connect_timeout):
                await self._gate.acquire()
                try:
                    conn = await self.pool.acquire()
                except BaseException:
                    self._gate.release()
                    raise
        except TimeoutError:
            raise DatabaseBusy("no database connection free") from None
        except psycopg2.OperationalError as exc:
            raise DatabaseUnavailable(str(exc).strip()) from exc
        finally:
            self._waiting -= 1
            _ACQUIRES.observe(time.perf_counter() - started)
        try:
            yield conn
        finally:
            if not conn.closed and (conn.raw.get_transaction_status() != psycopg2.extensions.TRANSACTION_STATUS_IDLE):
                conn.close()  # never hand the next request a connection mid-transaction
            self.pool.release(conn)
            self._gate.release()

    @contextlib.asynccontextmanager
    async def cursor(self) -> AsyncIterator[Cursor]:
        """A cursor outside any transaction: each statement commits on its own."""
        async with self.connection() as conn, conn.cursor(cursor_factory=DICT_ROWS) as raw:
            cur = Cursor(raw, self._prelude)
            yield cur
            await cur.flush()  # anything queued with later() still runs

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Cursor]:
        """One transaction on one connection: committed when the block ends, else rolled back."""
        async with self.connection() as conn, conn.cursor(cursor_factory=DICT_ROWS) as raw:
            cur = Cursor(raw, self._prelude, begin=True)  # BEGIN rides with the first statement
            try:
                yield cur
                await cur.execute("COMMIT")  # with whatever is still queued, in one round trip
            except BaseException:
                # A cancelled statement has already closed the connection (aiopg does);
                # anything else rolls back here, or the connection is closed on release.
                if not conn.closed:
                    with contextlib.suppress(Exception):
                        await raw.execute("ROLLBACK")
                raise

    async def fetch_all(self, sql: str, params: Params = None) -> list[Row]:
        async with self.cursor() as cur:
            return await cur.fetch_all(sql, params)

    async def fetch_one(self, sql: str, params: Params = None) -> Row | None:
        async with self.cursor() as cur:
            return await cur.fetch_one(sql, params)

    async def fetch_value(self, sql: str, params: Params = None) -> Any:
        async with self.cursor() as cur:
            return await cur.fetch_value(sql, params)

    async def execute(self, sql: str, params: Params = None) -> int:
        async with self.cursor() as cur:
            await cur.execute(sql, params)
            return cur.rowcount
