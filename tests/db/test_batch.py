"""Look-ups that travel together (jaan.db.batch): keys asked for while a read waits join it."""

from __future__ import annotations

import asyncio

import pytest

from jaan.db.batch import Batch, Take


class Reads:
    """A read that waits for a 'connection' (an event) before it takes its keys, like the pool."""

    def __init__(self) -> None:
        self.connection = asyncio.Event()
        self.taken: list[list[int]] = []
        self.took = asyncio.Event()
        self.fail: Exception | None = None

    async def __call__(self, take: Take[int]) -> dict[int, str]:
        await self.connection.wait()
        if self.fail is not None:
            raise self.fail
        keys = take()
        self.taken.append(keys)
        self.took.set()
        await asyncio.sleep(0)  # the statement's round trip
        return {key: f"row {key}" for key in keys if key % 10 != 0}  # multiples of 10 do not exist


async def test_keys_asked_while_the_read_waits_for_a_connection_are_read_together():
    reads = Reads()
    batch = Batch(reads)
    waiting = [asyncio.ensure_future(batch.get(key)) for key in (1, 2, 2, 3, 10)]
    await asyncio.sleep(0.01)
    reads.connection.set()
    assert await asyncio.gather(*waiting) == ["row 1", "row 2", "row 2", "row 3", None]
    assert reads.taken == [[1, 2, 3, 10]] and batch.reads == 1


async def test_a_key_asked_after_the_keys_were_taken_is_read_by_the_next_read():
    reads = Reads()
    reads.connection.set()
    batch = Batch(reads)
    first = asyncio.ensure_future(batch.get(1))
    await reads.took.wait()  # the first read has taken its keys and is in its round trip
    assert await batch.get(2) == "row 2"
    assert await first == "row 1"
    assert reads.taken == [[1], [2]]


async def test_a_batch_holds_at_most_max_keys():
    reads = Reads()
    batch = Batch(reads, max_keys=3)
    waiting = [asyncio.ensure_future(batch.get(key)) for key in range(1, 8)]
    await asyncio.sleep(0.01)
    reads.connection.set()
    assert await asyncio.gather(*waiting) == [f"row {key}" for key in range(1, 8)]
    assert sorted(reads.taken) == [[1, 2, 3], [4, 5, 6], [7]]


async def test_a_failed_read_fails_each_of_its_keys_and_the_next_key_reads_again():
    reads = Reads()
    batch = Batch(reads)
    reads.fail = RuntimeError("no connection free")
    waiting = [asyncio.ensure_future(batch.get(key)) for key in (1, 2)]
    reads.connection.set()
    for result in await asyncio.gather(*waiting, return_exceptions=True):
        assert isinstance(result, RuntimeError)
    reads.fail = None
    assert await batch.get(3) == "row 3"  # the failed batch closed: a new read, not the failed one


async def test_a_cancelled_waiter_does_not_cancel_the_others_read():
    reads = Reads()
    batch = Batch(reads)
    impatient = asyncio.ensure_future(batch.get(1))
    patient = asyncio.ensure_future(batch.get(2))
    await asyncio.sleep(0.01)
    impatient.cancel()
    reads.connection.set()
    assert await patient == "row 2"
    with pytest.raises(asyncio.CancelledError):
        await impatient
    assert reads.taken == [[1, 2]]
