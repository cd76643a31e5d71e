"""A client's mistake costs one WARNING line in the log, never a traceback: malformed HTTP, a body cut short."""

from __future__ import annotations

import re
import socket
import time

from tests.waiting import PATIENCE

ROUNDS = 5


def lines_matching(service, pattern: str) -> list[str]:
    return [line for line in service.stderr.splitlines() if re.search(pattern, line)]


def wait_for_count(service, pattern: str, count: int) -> None:
    deadline = time.monotonic() + PATIENCE
    while len(lines_matching(service, pattern)) < count:
        assert time.monotonic() < deadline, f"fewer than {count} lines matching {pattern!r}:\n{service.stderr[-3000:]}"
        time.sleep(0.05)


def send(service, data: bytes, *, read_answer: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", service.port), timeout=PATIENCE) as sock:
        sock.sendall(data)
        if not read_answer:
            time.sleep(0.2)  # the server has started reading the body
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            return b""  # closing now resets the connection mid-body
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        return answer


def test_malformed_http_and_bodies_cut_short_each_write_one_warning_line_and_no_traceback(serve):
    service = serve("--workers", "1")
    before = len(service.stderr.splitlines())
    for _ in range(ROUNDS):
        answer = send(service, b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Bad: a\x01b\r\n\r\n", read_answer=True)
        assert answer.startswith(b"HTTP/1.0 400") or answer.startswith(b"HTTP/1.1 400"), answer[:200]
    for _ in range(ROUNDS):
        head = b"POST /api/auth/signin HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        send(service, head + b'Content-Length: 1000\r\n\r\n{"email": "a', read_answer=False)

    malformed = r"WARNING .* malformed HTTP request from 127\.0\.0\.1 answered 400: Invalid header value char"
    cut_short = r"WARNING .* POST /api/auth/signin: the client disconnected before the request was complete"
    wait_for_count(service, malformed, ROUNDS)
    wait_for_count(service, cut_short, ROUNDS)
    assert service.get()[0] == 200  # every earlier line is written by now: the worker handled them in order

    logged = service.stderr.splitlines()[before:]
    assert len(lines_matching(service, malformed)) == ROUNDS
    assert len(lines_matching(service, cut_short)) == ROUNDS
    assert [line for line in logged if " ERROR " in line or "Traceback" in line] == []
    # One line each: nothing else at WARNING or above, and the client's control byte is escaped.
    assert len([line for line in logged if " WARNING " in line]) == 2 * ROUNDS
    assert all("\x01" not in line for line in logged)
