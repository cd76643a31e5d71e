"""Replacing running workers without losing capacity: reload, recycling (memory, requests), resizing.

One replacement at a time: a successor is forked into the slot of the worker it
replaces, and only once it reports ready is its predecessor told to drain.  So the
service never has fewer ready workers than it should, and at most one extra pool
exists (the budget's surge allowance).  If a successor dies or misses its ready
timeout, the whole queue is dropped (a reload is reported aborted) and the old
workers keep serving.
"""

from __future__ import annotations

import collections
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from jaan.serving.process import Worker, WorkerState
from jaan.serving.systemd import notify, reloading

log = logging.getLogger("jaan.master")

PAUSE_AFTER_FAILURE = 5.0  # seconds before recycling is tried again after a failed successor


@dataclass
class Replacement:
    slot: int
    reason: str  # reload, memory, max-requests, resize
    requested_at: float


class Replacements:
    """The queue of slots whose worker is to be replaced, and the successor being started."""

    def __init__(self) -> None:
        self.queue: collections.deque[Replacement] = collections.deque()
        self.successor: Worker | None = None  # started, not yet ready
        self.current: Replacement | None = None
        self.paused_until = 0.0
        self.reload: dict[str, Any] = {"id": 0, "state": "none", "message": ""}

    def busy_with(self, slot: int) -> bool:
        """Whether the slot's worker is queued for replacement or being replaced."""
        return (self.successor is not None and self.successor.slot == slot) or any(r.slot == slot for r in self.queue)

    def request(self, slot: int, reason: str) -> None:
        if not self.busy_with(slot):
            self.queue.append(Replacement(slot, reason, time.monotonic()))

    def start_reload(self, slots: list[int]) -> dict[str, Any]:
        """Queue every slot; a reload requested during a reload starts over."""
        now = time.monotonic()
        self.queue = collections.deque(r for r in self.queue if r.reason != "reload")
        self.queue.extend(Replacement(slot, "reload", now) for slot in slots)
        self.paused_until = 0.0
        self.reload = {"id": self.reload["id"] + 1, "state": "running", "message": f"replacing {len(slots)} workers"}
        log.info("reload: replacing %d workers one at a time", len(slots))
        reloading()
        return dict(self.reload)

    @property
    def resizing(self) -> bool:
        """Workers are being shrunk to a smaller share of the budget (new slots must wait)."""
        return any(r.reason == "resize" for r in self.queue) or (
            self.current is not None and self.current.reason == "resize"
        )

    def advance(
        self, serving: list[Worker], target: int, fits: Callable[[], bool], spawn: Callable[[int, Worker], Worker]
    ) -> None:
        """Start the next successor when none is starting, the budget has room and none failed lately."""
        if self.successor is not None or time.monotonic() < self.paused_until:
            return
        while self.queue:
            request = self.queue[0]
            old = next(
                (
                    w
                    for w in serving
                    if w.slot == request.slot and w.state is WorkerState.READY and w.started_at <= request.requested_at
                ),
                None,
            )
            if old is None or request.slot > target:
                self.queue.popleft()  # already replaced (it died meanwhile) or scaled away
                continue
            if not fits():
                return  # a draining worker still holds connections; try again next turn
            self.queue.popleft()
            self.current = request
            self.successor = spawn(request.slot, old)
            return
        if self.reload["state"] == "running":
            self.reload.update(state="done", message="every worker replaced")
            log.info("reload done: every worker replaced")
            notify("READY=1")

    def successor_ready(self) -> None:
        self.successor = self.current = None

    def successor_failed(self, why: str) -> None:
        request, self.successor, self.current = self.current, None, None
        reloading = any(r.reason == "reload" for r in self.queue)
        if reloading or (request is not None and request.reason == "reload"):
            self.reload.update(state="aborted", message=f"reload aborted, old workers keep serving: {why}")
            log.error("reload aborted, the old workers keep serving: %s", why)
            notify("READY=1")
        self.queue.clear()
        self.paused_until = time.monotonic() + PAUSE_AFTER_FAILURE
