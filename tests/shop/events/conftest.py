"""Reading live-event streams in tests: a WebSocket or an SSE response, one event at a time."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from tests.shop.orders.conftest import Shop

# Generous: the suite runs on busy shared cores; a stream that works answers in milliseconds.
WAIT = 10.0
SSE = {"Accept": "text/event-stream"}


class SseReader:
    """The frames of one Server-Sent Events response."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self.response = response
        self.comments = 0

    async def frame(self, within: float = WAIT) -> dict[str, str]:
        """The next frame with a field (comments are counted, not returned)."""
        fields: dict[str, str] = {}
        async with asyncio.timeout(within):
            while True:
                line = (await self.response.content.readline()).decode()
                if not line:
                    raise EOFError("stream ended")
                line = line.rstrip("\n")
                if not line:
                    if fields:
                        return fields
                    continue
                if line.startswith(":"):
                    self.comments += 1
                    continue
                name, _, value = line.partition(":")
                fields[name] = value[1:] if value.startswith(" ") else value

    async def event(self, within: float = WAIT) -> dict[str, Any]:
        """The next event (skips `retry:`); a `close` frame comes back as {"close": {...}}."""
        while True:
            fields = await self.frame(within)
            if fields.get("event") == "close":
                return {"close": json.loads(fields["data"])}
            if "data" in fields:
                event: dict[str, Any] = json.loads(fields["data"])
                assert fields["id"] == str(event["id"]) and fields["event"] == event["type"]
                return event


async def open_sse(client: TestClient, path: str, headers: dict[str, str], **extra: str) -> SseReader:
    response = await client.get(path, headers={**headers, **SSE, **extra})
    assert response.status == 200, await response.text()
    assert response.headers["Content-Type"].startswith("text/event-stream")
    return SseReader(response)


async def ws_event(ws: aiohttp.ClientWebSocketResponse, within: float = WAIT) -> dict[str, Any]:
    message = await ws.receive(within)
    assert message.type is aiohttp.WSMsgType.TEXT, message
    event: dict[str, Any] = json.loads(message.data)
    return event


class WsReader:
    """Reads a WebSocket all the time in the background, as a real client does (so it answers the
    server's pings at once), queueing its text messages as events."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.events: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.closed: aiohttp.WSMessage | None = None
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        while True:
            message = await self.ws.receive()
            if message.type is aiohttp.WSMsgType.TEXT:
                self.events.put_nowait(json.loads(message.data))
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.CLOSING):
                self.closed = message
                return

    async def event(self, within: float = WAIT) -> dict[str, Any]:
        async with asyncio.timeout(within):
            return await self.events.get()


async def until(read: Any, wanted: Any, within: float = WAIT) -> dict[str, Any]:
    """Read events until one satisfies `wanted` (other tests' events may come first)."""
    async with asyncio.timeout(within):
        while True:
            event: dict[str, Any] = await read()
            if wanted(event):
                return event


@pytest.fixture
def shop(probe_database: str) -> Shop:
    return Shop(probe_database)
