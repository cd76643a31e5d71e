"""Waiting for what a test expects: for the event itself, generously, never against a stopwatch.

CI runs on two cores that other work may keep busy: a change that takes milliseconds on a quiet
machine may take seconds there. A test waits up to PATIENCE for the event and fails only when it
never comes; how fast it came is the load suite's business (perf/), not the test suite's.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable

PATIENCE = 30.0


async def eventually(check: Callable[[], bool | Awaitable[bool]], within: float = PATIENCE) -> None:
    """Return once `check()` (a function or a coroutine function) is true; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{getattr(check, '__name__', 'the condition')} did not hold within {within}s")
        await asyncio.sleep(0.01)
