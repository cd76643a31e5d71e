"""The headline figures' order counts kept current from the orders' own changes (issue 14).

Every order used to drop the cached ``GET /api/admin/stats`` in every worker, and the next request
recounted every order. Now each change to an order arrives as a notification with the writing
transaction's id and the row's old and new status and total (migrations/0021), and the figures a
worker keeps take it as a difference: orders, pending orders, revenue. The figures are read together
with the snapshot they were read in (``pg_current_snapshot()``), so a change the read already
counted is skipped, whichever of the read and the notification came first. Invoices and users still
drop the figures (they change rarely), as do a catalogue change and the end of the store's day.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aiohttp import web

from jaan.web.envelope import dumps
from jaan.web.etag import etag_of

ORDER_FIGURES_CHANNEL = "jaan_order_figures"
# Tag of the figures: dropped when orders are truncated, or when this worker changed an order's status
# itself (the admin's next read must show it, before the notification arrives).
HEADLINE_FIGURES = "headline-figures"


@dataclass(frozen=True)
class OrderChange:
    """One order's change to the headline figures, by the transaction that made it."""

    xid: int
    orders: int  # +1 placed, -1 deleted, 0 changed
    pending: int
    revenue: Decimal

    @classmethod
    def parse(cls, payload: str) -> OrderChange:
        """'<xid>:<old status>:<old total>:<new status>:<new total>:…' (a side empty when none)."""
        xid, old_status, old_total, new_status, new_total = payload.split(":")[:5]
        return cls(
            int(xid),
            bool(new_status) - bool(old_status),
            (new_status == "pending") - (old_status == "pending"),
            _revenue(new_status, new_total) - _revenue(old_status, old_total),
        )


def _revenue(status: str, total: str) -> Decimal:
    """What an order adds to revenue: its total unless cancelled (D-28) or absent."""
    return Decimal(total) if status and status != "cancelled" else Decimal(0)


@dataclass(frozen=True)
class Snapshot:
    """A PostgreSQL snapshot (``pg_current_snapshot()``): which transactions a read saw."""

    xmin: int
    xmax: int
    in_progress: frozenset[int]

    @classmethod
    def parse(cls, text: str) -> Snapshot:
        xmin, xmax, xip = text.split(":")
        return cls(int(xmin), int(xmax), frozenset(int(x) for x in xip.split(",") if x))

    def sees(self, xid: int) -> bool:
        """Whether the read saw what transaction `xid` committed (the notification says it did commit)."""
        return xid < self.xmin or (xid < self.xmax and xid not in self.in_progress)


class HeadlineFigures:
    """The stats answer kept current by :class:`OrderChange` s (a response cache
    :class:`jaan.web.response_cache.Overlaid`): created before its read, so it hears every change
    made after the read's snapshot, and counts only those the snapshot did not see."""

    def __init__(self) -> None:
        self._figures: dict[str, Any] = {}
        self._snapshot: Snapshot | None = None
        self._early: list[OrderChange] = []  # heard while the read ran
        self._body = b""
        self._etag = ""
        self._stale = False  # changes heard since the body was rendered
        self.size = 0

    def read(self, figures: dict[str, Any], snapshot: Snapshot) -> None:
        """The figures as read, and the snapshot they were read in."""
        self._figures, self._snapshot = figures, snapshot
        early, self._early = self._early, []
        self._render()
        self.size = 2 * len(self._body)  # counted once, as the cache budgets it: about the figures and their body
        for change in early:
            self.heard(change)

    def heard(self, change: OrderChange) -> None:
        if self._snapshot is None:
            self._early.append(change)
            return
        if self._snapshot.sees(change.xid):
            return
        figures = self._figures
        figures["totalOrders"] += change.orders
        figures["pendingOrders"] += change.pending
        figures["revenue"] += change.revenue
        self._stale = True  # rendered when next served: an order storm is many changes per read

    def _render(self) -> None:
        self._body = dumps({"success": True, "data": self._figures})
        self._etag = etag_of(self._body)
        self._stale = False

    def current(self) -> tuple[bytes, str]:
        if self._stale:
            self._render()
        return self._body, self._etag


class OrderFigures:
    """The worker's headline figures that are listening for order changes (weakly held: figures
    the response cache has dropped stop listening once nothing serves them)."""

    def __init__(self) -> None:
        self._listening: weakref.WeakSet[HeadlineFigures] = weakref.WeakSet()

    def listen(self) -> HeadlineFigures:
        figures = HeadlineFigures()
        self._listening.add(figures)
        return figures

    def on_notification(self, payload: str) -> bool:
        """Hand a change to every figures listening; False when orders were truncated (drop them)."""
        if payload == "*":
            self._listening.clear()
            return False
        change = OrderChange.parse(payload)
        for figures in list(self._listening):
            figures.heard(change)
        return True


ORDER_FIGURES: web.AppKey[OrderFigures] = web.AppKey("order_figures", OrderFigures)
