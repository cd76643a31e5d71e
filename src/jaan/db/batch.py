"""Look-ups that travel together: the keys asked for while a read waits for its connection are
read by that same statement.

A worker under load misses its cache for many product pages at once (issue 14: 5,000 slugs at
random). Read one by one, each miss held one of the pool's few connections for a whole round trip
and the others queued behind it, so the misses' throughput was the pool's size over a round trip
however many were waiting. A :class:`Batch` is open from the first key asked for until its read has
a connection and takes the keys (``take()``): every key asked for meanwhile joins it, so the more
misses wait, the more each round trip answers. At no load a batch holds one key and costs what the
single read did.

The read starts after every key joined (``take()`` closes the batch), so what it reads is at least as
new as anything heard before any of its keys was asked for: a cache build that waits on it is as
fresh as one that read alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable, Mapping
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

# What a batch's read is given: call it once a connection is held, to close the batch and get its keys.
Take = Callable[[], list[K]]
Read = Callable[[Take[K]], Awaitable[Mapping[K, V]]]


class _Open(Generic[K, V]):
    __slots__ = ("answer", "keys", "taken")

    def __init__(self) -> None:
        self.keys: dict[K, None] = {}  # in the order asked (a dict: no duplicates)
        self.answer: asyncio.Future[Mapping[K, V]] = asyncio.get_running_loop().create_future()
        self.taken = False


class Batch(Generic[K, V]):
    """Keys read together by `read` (a mapping of the keys found; a key missing from it is None).

    At most `max_keys` keys join one batch; the next key opens another.
    """

    def __init__(self, read: Read[K, V], max_keys: int = 100) -> None:
        self._read = read
        self.max_keys = max_keys
        self._open: _Open[K, V] | None = None
        self._running: set[asyncio.Task[None]] = set()  # referenced, or the loop may drop them
        self.reads = 0  # statements read, for tests and monitors

    async def get(self, key: K) -> V | None:
        batch = self._open
        if batch is None or len(batch.keys) >= self.max_keys:
            batch = self._open = _Open()
            task = asyncio.get_running_loop().create_task(self._run(batch))
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        batch.keys[key] = None
        # Shielded: one waiter's cancellation (its request timed out) must not cancel the others' read.
        found = await asyncio.shield(batch.answer)
        return found.get(key)

    async def _run(self, batch: _Open[K, V]) -> None:
        def take() -> list[K]:
            if not batch.taken:
                batch.taken = True
                if self._open is batch:
                    self._open = None
            return list(batch.keys)

        try:
            self.reads += 1
            found = await self._read(take)
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError):
                batch.answer.cancel()
            else:
                batch.answer.set_exception(exc)
                batch.answer.exception()  # retrieved: its waiters re-raise it, nobody else needs to
            if not isinstance(exc, Exception):
                raise
        else:
            batch.answer.set_result(found)
        finally:
            if self._open is batch:  # the read failed before it took the keys (no connection)
                self._open = None
