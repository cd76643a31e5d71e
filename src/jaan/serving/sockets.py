"""The listening sockets: bound once in the master, a queue per worker (or one shared), closed losing nothing.

By default (``accept_queues = per-worker``) the master only binds the port (holding it, not
listening) and each worker listens on a socket of its own in the port's SO_REUSEPORT group:
the kernel hashes each new connection to one worker's queue, so a burst of thousands is
spread over the workers and over as many queues (one shared queue overflowed at 5,000
connections: its SYNs were dropped and retried a second later, and the first worker to wake
took the whole burst).  A stopping worker first drops new SYNs on its socket (a BPF filter:
the client retries and lands on another worker once the socket is closed), accepts what is
queued, then closes it.  What reaches its queue in between (a handshake under way) moves to
another worker's queue only when the host sets ``net.ipv4.tcp_migrate_req = 1``; otherwise
the kernel resets it, so bin/serve warns at start when it is off.

With ``accept_queues = shared`` one socket (one accept queue) is shared by all workers, so a
worker that stops accepting during a reload loses nothing: the others accept what is queued.
On a full stop the last close would reset whatever the kernel had queued, so the master first
attaches the drop-everything filter: new SYNs are ignored (the client retries and, once the
socket is closed, is refused), the queue only drains, and the workers close their copies once
it is empty.
"""

from __future__ import annotations

import ctypes
import socket
import struct
from pathlib import Path

from jaan.settings import Settings

SO_ATTACH_FILTER = getattr(socket, "SO_ATTACH_FILTER", 26)
_BPF_RET_K = 0x06


def bind(settings: Settings) -> socket.socket:
    """The listening socket every worker inherits (bound before any fork)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        settings.host, settings.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if settings.reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    try:
        sock.bind(address)
        if settings.accept_queues == "shared":
            sock.listen(settings.backlog)
        else:
            # Bound without SO_REUSEPORT (unless reuse_port asks to share the port), so a port someone
            # holds is refused; flagged afterwards, so the workers' own sockets may join it.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def migrates_queued_connections() -> bool | None:
    """Whether the host moves a closed reuseport socket's queued connections to another one
    (net.ipv4.tcp_migrate_req); None when the kernel does not say (older than 5.14)."""
    try:
        return Path("/proc/sys/net/ipv4/tcp_migrate_req").read_text().strip() == "1"
    except OSError:
        return None


def own_listener(bound: socket.socket, backlog: int) -> socket.socket:
    """A worker's own listening socket on the port `bound` holds: its own accept queue in the port's
    SO_REUSEPORT group, to which the kernel hashes a share of the new connections."""
    sock = socket.socket(bound.family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(bound.getsockname())
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.setblocking(False)
    return sock


def refuse_new_connections(sock: socket.socket) -> bool:
    """Make the kernel drop new SYNs for this socket (in every process sharing it); False if unsupported."""
    program = ctypes.create_string_buffer(struct.pack("HBBI", _BPF_RET_K, 0, 0, 0))  # "return 0": drop
    fprog = struct.pack("HL", 1, ctypes.addressof(program))
    try:
        sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
    except OSError:
        return False
    return True


def accept_queue_length(sock: socket.socket) -> int:
    """Connections the kernel has completed and no worker has accepted yet (0 when unknown)."""
    try:
        info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    except OSError:
        return 0
    # struct tcp_info: 8 one-byte fields, then rto, ato, snd_mss, rcv_mss, unacked; for a
    # listening socket "unacked" is the accept queue's length.
    return int(struct.unpack_from("8B5I", info)[-1])
