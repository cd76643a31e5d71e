"""The per-worker feed without sockets: who gets what, the buffer bound, the documented types."""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from jaan.shop.accounts.roles import Role
from jaan.shop.events.docs import EVENT_TYPES, document_events
from jaan.shop.events.feed import CLOSE_GRACE, TOO_SLOW, Event, EventFeed, Subscriber

MIGRATION = Path(__file__).resolve().parents[3] / "migrations" / "0015_events.sql"


def subscriber(role: Role = Role.ADMIN, limit: int = 10, user: uuid.UUID | None = None) -> Subscriber:
    expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    return Subscriber(user or uuid.uuid4(), role, b"x" * 32, expires, limit)


def event(number: int, kind: str = "contact.received", user: uuid.UUID | None = None) -> Event:
    return Event(number, kind, None if user is None else str(user), f'{{"id":{number}}}')


async def test_admins_get_everything_customers_their_own_status_changes_and_invoices():
    feed = EventFeed()
    alice = uuid.uuid4()
    admin, mine, other = subscriber(), subscriber(Role.USER, user=alice), subscriber(Role.USER)
    for s in (admin, mine, other):
        feed.subscribe(s)
    feed.dispatch(event(1, "order.created", alice))  # admins only, even with her id
    feed.dispatch(event(2, "order.status_changed", alice))
    feed.dispatch(event(3, "invoice.paid", uuid.uuid4()))
    feed.dispatch(event(4, "stock.out"))
    assert [e.id for e in admin.pending] == [1, 2, 3, 4]
    assert [e.id for e in mine.pending] == [2]
    assert not other.pending
    assert feed.last_id == 4 and feed.delivered == 5
    assert feed.counts() == {"admin": 1, "customer": 2}


async def test_a_subscriber_past_its_buffer_is_closed_4008_and_gets_nothing_more():
    feed = EventFeed()
    slow = subscriber(limit=3)
    feed.subscribe(slow)
    for number in range(1, 5):
        feed.dispatch(event(number))
    assert slow.close_code == TOO_SLOW and not slow.pending and slow.ready.is_set()
    feed.dispatch(event(5))
    assert not slow.pending


async def test_the_sse_frame_carries_the_id_and_type():
    frame = event(7, "stock.low").sse_frame.decode()
    assert frame == 'id: 7\nevent: stock.low\ndata: {"id":7}\n\n'


def test_every_type_the_migration_emits_is_documented():
    sql = MIGRATION.read_text()
    emitted = set(re.findall(r"'([a-z_]+\.[a-z_]+)'", sql)) - {"events.id"}
    assert emitted == set(EVENT_TYPES)


def test_the_document_describes_both_streams_once_however_often_it_is_served():
    document: dict[str, Any] = {"paths": {"/api/admin/events": {"get": {}}, "/api/events": {"get": {}}}}
    document_events(document)
    document_events(document)
    schemas = document["components"]["schemas"]
    assert len(schemas["Event"]["oneOf"]) == len(EVENT_TYPES)
    for path in ("/api/admin/events", "/api/events"):
        operation = document["paths"][path]["get"]
        assert {"101", "200", "401"} <= set(operation["responses"])
        assert [p["name"] for p in operation["parameters"]].count("Last-Event-ID") == 1
    assert "order.created" not in document["paths"]["/api/events"]["get"]["responses"]["101"]["description"]


async def test_an_admins_own_order_reaches_their_stream_once_and_leaving_unindexes():
    feed = EventFeed()
    me = uuid.uuid4()
    admin = subscriber(Role.ADMIN, user=me)
    feed.subscribe(admin)
    feed.dispatch(event(1, "order.status_changed", me))
    assert [e.id for e in admin.pending] == [1]
    feed.unsubscribe(admin)
    feed.dispatch(event(2, "order.status_changed", me))
    assert [e.id for e in admin.pending] == [1] and feed.counts() == {"admin": 0, "customer": 0}


async def test_the_next_event_goes_out_straight_from_its_notification_anything_else_is_read():
    feed = EventFeed()
    feed.last_id = 41
    feed._started.set()  # as after start(): it knows where the stream stands
    admin = subscriber()
    feed.subscribe(admin)
    alice = uuid.uuid4()
    feed.on_notification(f'42 order.status_changed {alice} {{"id":42}}')
    assert [(e.id, e.type, e.user_id, e.body) for e in admin.pending] == [
        (42, "order.status_changed", str(alice), '{"id":42}')
    ]
    feed.on_notification('42 order.status_changed - {"id":42}')  # already out: ignored
    assert len(admin.pending) == 1 and not feed._wanted.is_set()
    feed.on_notification('44 stock.out - {"id":44}')  # 43 missing: read from the table, in order
    assert len(admin.pending) == 1 and feed._wanted.is_set()
    feed._wanted.clear()
    feed.on_notification("43")  # too large to travel: read from the table
    assert feed._wanted.is_set()


async def test_a_stream_that_cannot_take_its_close_is_cut_after_the_grace():
    stuck, polite = subscriber(), subscriber()
    cuts: list[str] = []
    stuck.cut, polite.cut = (lambda: cuts.append("stuck")), (lambda: cuts.append("polite"))
    stuck.close(TOO_SLOW, "too slow")
    polite.close(TOO_SLOW, "too slow")
    polite.finished = True  # its sender sent the close and ended in time
    await asyncio.sleep(CLOSE_GRACE + 0.5)
    assert cuts == ["stuck"]
