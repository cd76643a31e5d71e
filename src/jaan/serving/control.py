"""The master's control socket and the client ``bin/serve status|reload|scale|stop`` use.

A unix stream socket in the data directory's run/ (mode 0600: only the service's
user may steer it).  One request per connection: a JSON line ``{"command": ...}``,
answered by one JSON line.  The master serves it from its select loop, without
threads, so a client never blocks it for long.
"""

from __future__ import annotations

import contextlib
import json
import os
import selectors
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SOCKET_NAME = "serve.sock"
MAX_REQUEST = 4096

Handler = Callable[[dict[str, Any]], dict[str, Any]]


class AlreadyRunning(RuntimeError):
    pass


def socket_path(run_dir: Path) -> Path:
    return run_dir / SOCKET_NAME


class ControlServer:
    """Accepts control connections; the master dispatches requests to ``handler``."""

    def __init__(self, run_dir: Path) -> None:
        run_dir.mkdir(parents=True, exist_ok=True)
        self.path = socket_path(run_dir)
        if self.path.exists():
            if _answers(self.path):
                raise AlreadyRunning(f"a bin/serve is already running for this data directory ({self.path})")
            self.path.unlink()  # left by a master that was killed
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        old_umask = os.umask(0o177)  # never world-accessible, not even between bind and chmod
        try:
            self.sock.bind(str(self.path))
        finally:
            os.umask(old_umask)
        self.path.chmod(0o600)
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.clients: dict[socket.socket, bytes] = {}

    def fds(self) -> list[int]:
        """Every descriptor a forked worker must close."""
        return [self.sock.fileno(), *(client.fileno() for client in self.clients)]

    def register(self, selector: selectors.BaseSelector) -> None:
        selector.register(self.sock, selectors.EVENT_READ, self._accept)

    def _accept(self, selector: selectors.BaseSelector, handler: Handler) -> None:
        with contextlib.suppress(BlockingIOError):
            client, _ = self.sock.accept()
            client.setblocking(False)
            self.clients[client] = b""
            selector.register(client, selectors.EVENT_READ, lambda sel, h, c=client: self._read(sel, h, c))

    def _read(self, selector: selectors.BaseSelector, handler: Handler, client: socket.socket) -> None:
        try:
            data = client.recv(MAX_REQUEST)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        buffer = self.clients.get(client, b"") + data
        if data and b"\n" not in buffer and len(buffer) < MAX_REQUEST:
            self.clients[client] = buffer
            return
        try:
            request = json.loads(buffer.split(b"\n", 1)[0]) if buffer else {}
            answer = handler(request) if isinstance(request, dict) else {"ok": False, "error": "bad request"}
        except ValueError:
            answer = {"ok": False, "error": "bad request"}
        self._close(selector, client, answer if data or buffer else None)

    def _close(self, selector: selectors.BaseSelector, client: socket.socket, answer: dict[str, Any] | None) -> None:
        selector.unregister(client)
        self.clients.pop(client, None)
        if answer is not None:
            with contextlib.suppress(OSError):
                client.settimeout(1.0)  # answers are small; a client that does not read is dropped
                client.sendall(json.dumps(answer, default=str).encode() + b"\n")
        client.close()

    def close(self) -> None:
        for client in list(self.clients):
            client.close()
        self.sock.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


class NotRunning(RuntimeError):
    pass


def call(run_dir: Path, command: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
    """Send one command to the running master and return its answer."""
    path = socket_path(run_dir)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(timeout)
        try:
            client.connect(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            raise NotRunning(f"no bin/serve is running for this data directory (nothing on {path})") from None
        client.sendall(json.dumps({"command": command, **fields}).encode() + b"\n")
        chunks = []
        while chunk := client.recv(65536):
            chunks.append(chunk)
    answer: dict[str, Any] = json.loads(b"".join(chunks))
    return answer


def wait_until_gone(run_dir: Path, timeout: float) -> bool:
    """Wait for the master to exit (its control socket stops answering)."""
    deadline = time.monotonic() + timeout
    path = socket_path(run_dir)
    while time.monotonic() < deadline:
        if not path.exists() or not _answers(path):
            return True
        time.sleep(0.05)
    return False
