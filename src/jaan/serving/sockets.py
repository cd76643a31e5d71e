"""The listening socket: bound once in the master, shared by every worker, closed without losing a connection.

One socket (one accept queue) is shared by all workers, so a worker that stops
accepting during a reload loses nothing: the others accept what is queued.  (A socket
per worker with SO_REUSEPORT would give each its own queue, but the kernel resets the
connections queued on a reuseport socket when it closes, unless the host sets
net.ipv4.tcp_migrate_req: a reload would drop them.)  On a full
stop the last close would reset whatever the kernel had queued, so the master first
attaches a drop-everything BPF filter: new SYNs are ignored (the client retries and,
once the socket is closed, is refused), the queue only drains, and the workers close
their copies once it is empty.
"""

from __future__ import annotations

import ctypes
import socket
import struct

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
        sock.listen(settings.backlog)
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
