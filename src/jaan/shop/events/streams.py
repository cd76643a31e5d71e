"""Sending one subscriber its events: a WebSocket, or Server-Sent Events.

Both transports run the same loop (:func:`_send_events`): replay what the client missed, then
send live events as the feed buffers them, a keep-alive when idle, and a close when asked (the
worker drains, the session ended, the subscriber fell too far behind).  A stream whose client
stops reading cannot even take its close: one second after a close is asked, its connection
is cut.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from typing import Protocol

from aiohttp import WSMsgType, web

from jaan.db.pool import Database
from jaan.shop.events.feed import CLOSE_GRACE, SESSION_ENDED, Event, EventFeed, Subscriber, replay
from jaan.web.timeout import lift_request_timeout

log = logging.getLogger(__name__)

# What an EventSource waits before reconnecting (ms), sent once at the start of an SSE stream.
SSE_RETRY_MS = 1000


class Transport(Protocol):
    async def send(self, event: Event) -> None: ...

    async def keep_alive(self) -> None: ...

    async def close(self, code: int, reason: str) -> None: ...


class WebSocketTransport:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws

    async def send(self, event: Event) -> None:
        await self.ws.send_frame(event.text, WSMsgType.TEXT)

    async def keep_alive(self) -> None:
        pass  # aiohttp pings every heartbeat itself, and drops a client that does not answer

    async def close(self, code: int, reason: str) -> None:
        await self.ws.close(code=code, message=reason.encode())


class SseTransport:
    def __init__(self, response: web.StreamResponse) -> None:
        self.response = response

    async def send(self, event: Event) -> None:
        await self.response.write(event.sse_frame)

    async def keep_alive(self) -> None:
        await self.response.write(b": keep-alive\n\n")

    async def close(self, code: int, reason: str) -> None:
        data = json.dumps({"code": code, "reason": reason})
        await self.response.write(f"event: close\ndata: {data}\n\n".encode())
        await self.response.write_eof()


async def websocket_stream(
    request: web.Request, feed: EventFeed, database: Database, subscriber: Subscriber, since: int | None
) -> web.WebSocketResponse:
    heartbeat = subscriber_heartbeat(request)
    ws = web.WebSocketResponse(heartbeat=heartbeat, compress=False, timeout=CLOSE_GRACE, max_msg_size=4096)
    upto = feed.subscribe(subscriber)
    try:
        await ws.prepare(request)
        lift_request_timeout(request)
        _cut_on_close(request, subscriber)
        sender = asyncio.create_task(
            _send_events(WebSocketTransport(ws), database, subscriber, since, upto, heartbeat), name="event sender"
        )
        try:
            async for _message in ws:
                pass  # clients have nothing to say; reading notices their close (and answers pings)
        finally:
            if not sender.done():
                sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
    finally:
        feed.unsubscribe(subscriber)
    return ws


async def sse_stream(
    request: web.Request, feed: EventFeed, database: Database, subscriber: Subscriber, since: int | None
) -> web.StreamResponse:
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache, no-transform",
            "X-Accel-Buffering": "no",  # nginx: pass each event on at once
        }
    )
    upto = feed.subscribe(subscriber)
    try:
        await response.prepare(request)
        lift_request_timeout(request)
        _cut_on_close(request, subscriber)
        await response.write(f"retry: {SSE_RETRY_MS}\n\n".encode())
        await _send_events(SseTransport(response), database, subscriber, since, upto, subscriber_heartbeat(request))
    except ConnectionError:
        pass  # the client went away
    finally:
        feed.unsubscribe(subscriber)
    return response


def subscriber_heartbeat(request: web.Request) -> float:
    from jaan.state import SETTINGS

    return request.app[SETTINGS].events_heartbeat


def _cut_on_close(request: web.Request, subscriber: Subscriber) -> None:
    """Give the subscriber a way to cut a stream that cannot take its close in time."""

    def cut() -> None:
        transport = request.transport
        if transport is not None and not transport.is_closing():
            log.info("cutting an event stream that did not close within %ss", CLOSE_GRACE)
            transport.abort()

    subscriber.cut = cut


async def _send_events(
    transport: Transport, database: Database, subscriber: Subscriber, since: int | None, upto: int, heartbeat: float
) -> None:
    last = since or 0
    try:
        if since is not None:
            async for event in replay(database, subscriber, since, upto):
                if subscriber.close_code is not None:
                    break
                await transport.send(event)
                last = event.id
        else:
            last = upto
        while True:
            if not subscriber.pending and subscriber.close_code is None:
                subscriber.ready.clear()
                try:
                    async with asyncio.timeout(heartbeat):
                        await subscriber.ready.wait()
                except TimeoutError:
                    if subscriber.expires_at <= dt.datetime.now(dt.UTC):
                        subscriber.close(SESSION_ENDED, "session expired")
                    else:
                        await transport.keep_alive()
                    continue
            if subscriber.close_code is not None:
                await transport.close(subscriber.close_code, subscriber.close_reason)
                return
            while subscriber.pending:
                event = subscriber.pending.popleft()
                if event.id > last:  # a resumed stream's replay may have sent it already
                    await transport.send(event)
                    last = event.id
                if subscriber.close_code is not None:
                    break
    finally:
        subscriber.finished = True
