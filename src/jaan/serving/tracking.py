"""Per-worker request counters and the in-flight list, for status, aiomonitor and recycling.

Installed by the worker as the request pipeline's watcher (the outermost step), so every
request counts, including those an inner step rejects.  While the worker
drains, every response says ``Connection: close``, so keep-alive clients move to
another worker after their next answer instead of racing a closed socket.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

from aiohttp import hdrs, web

from jaan.web.pipeline import PIPELINE
from jaan.web.request_id import REQUEST_ID


@dataclass(frozen=True)
class InFlight:
    method: str
    path: str
    request_id: str
    age: float


class RequestTracker:
    """Counts requests served and keeps the ones in flight."""

    def __init__(self) -> None:
        self.served = 0
        self.draining = False
        self._in_flight: dict[int, tuple[web.Request, float]] = {}
        # Connections already answered with "Connection: close" during the drain.
        self.told_to_close: weakref.WeakSet[object] = weakref.WeakSet()

    def install(self, app: web.Application) -> None:
        """Watch the app's requests (the pipeline's outermost step) and add the drain hook; not yet frozen."""
        app[PIPELINE].watcher = self
        app.on_response_prepare.append(self._on_response_prepare)

    def started(self, request: web.Request) -> None:
        self._in_flight[id(request)] = (request, time.monotonic())

    def finished(self, request: web.Request) -> None:
        del self._in_flight[id(request)]
        self.served += 1

    async def _on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        if self.draining:
            # The headers are computed before this hook runs: say "close" ourselves, or the client
            # would send its next request into a connection we are about to close.
            response.force_close()
            response.headers[hdrs.CONNECTION] = "close"
            self.told_to_close.add(request.protocol)

    @property
    def in_flight_count(self) -> int:
        return len(self._in_flight)

    def in_flight(self) -> list[InFlight]:
        """The requests being handled, oldest first (safe to call from aiomonitor's thread)."""
        now = time.monotonic()
        for _ in range(5):
            try:
                entries = list(self._in_flight.values())
                break
            except RuntimeError:  # changed size while another thread copied it: try again
                continue
        else:
            entries = []
        return [
            InFlight(request.method, request.path_qs, request.get(REQUEST_ID, "-"), now - started)
            for request, started in sorted(entries, key=lambda entry: entry[1])
        ]
