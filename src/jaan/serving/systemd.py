"""systemd's readiness protocol (``Type=notify``): a datagram to ``$NOTIFY_SOCKET``, when there is one."""

from __future__ import annotations

import contextlib
import os
import socket
import time


def notify(state: str) -> None:
    """Send ``state`` (e.g. ``READY=1``) to systemd; does nothing outside a notify-type unit."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return
    if address.startswith("@"):
        address = "\0" + address[1:]  # an abstract socket
    with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.sendto(state.encode(), address)


def reloading() -> None:
    """Tell systemd a reload began (it waits for the next ``READY=1``)."""
    notify(f"RELOADING=1\nMONOTONIC_USEC={time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000}")
