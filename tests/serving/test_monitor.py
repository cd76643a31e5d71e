"""aiomonitor in every worker: its own loopback ports, and our pool / requests / settings commands."""

from __future__ import annotations

import http.client
import re
import socket
import threading
import time
from contextlib import closing

import psycopg2

from jaan.serving.status import format_table

IAC, SB, SE = b"\xff", b"\xfa", b"\xf0"
TTYPE, NAWS = b"\x18", b"\x1f"
PROMPT = b"monitor >>> "


class MonitorSession:
    """A telnet session with aiomonitor's terminal UI, answering the negotiation a terminal would."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        # prompt_toolkit waits for the terminal type before it shows a prompt.
        self.sock.sendall(IAC + SB + TTYPE + b"\x00dumb" + IAC + SE)
        self.sock.sendall(IAC + SB + NAWS + b"\x00\xc8\x00\x32" + IAC + SE)
        self.read_until(PROMPT)

    def read_until(self, marker: bytes, timeout: float = 30.0) -> str:
        data = b""
        deadline = time.monotonic() + timeout
        while marker not in data:
            if time.monotonic() > deadline:
                raise AssertionError(f"no {marker!r} in {data[-500:]!r}")
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            data += chunk
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data.decode(errors="replace"))

    def run(self, command: str) -> str:
        """The command's output: everything up to the quiet that follows the next prompt."""
        self.sock.sendall(command.encode() + b"\r")
        data = b""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            # Done at the quiet after the next prompt; until then a busy machine may be slow to answer.
            self.sock.settimeout(0.3 if data.count(PROMPT) >= 2 else 30)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                break
            if not chunk:
                break
            data += chunk
        self.sock.settimeout(30)
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", data.decode(errors="replace"))

    def close(self) -> None:
        self.sock.close()


def test_each_worker_monitor_answers_on_its_own_loopback_ports(serve):
    service = serve("--workers", "2")
    # A worker's pool figures reach the status with its first heartbeat, which may follow "ready".
    workers = service.wait_until(lambda s: all(w["pool"] for w in s["workers"]), timeout=30)["workers"]
    ports = [w["monitor"] for w in workers]
    assert len({p["terminal"] for p in ports}) == 2
    for worker, port in zip(workers, ports, strict=True):
        assert port["host"] == "127.0.0.1" and port["console"] is None and port["web"] is None
        session = MonitorSession(port["terminal"])
        try:
            pool = session.run("pool")
        finally:
            session.close()
        assert re.search(rf"size\s+{worker['pool']['size']}", pool) and re.search(r"waiting\s+0", pool)
        # Neither the web UI (whose "Cancel" stops any task) nor the console (a bare Python prompt)
        # listens unless asked for.
        for port_number in (port["terminal"] + 1, port["terminal"] + 2):
            with socket.socket() as probe:
                assert probe.connect_ex(("127.0.0.1", port_number)) != 0, port_number
    assert "web:" not in format_table(service.status())


def test_the_web_ui_opens_when_asked_for_on_loopback(serve):
    service = serve("--workers", "1", "--monitor-web", "true")
    (worker,) = service.wait_until(lambda s: len(s["workers"]) == 1)["workers"]
    web_port = worker["monitor"]["web"]
    assert web_port == worker["monitor"]["terminal"] + 1
    web = http.client.HTTPConnection("127.0.0.1", web_port, timeout=30)
    web.request("GET", "/")
    assert web.getresponse().status == 200
    web.close()
    assert f"web:{web_port}" in format_table(service.status())


def test_requests_command_lists_the_in_flight_request_with_its_id(serve, shop_database):
    service = serve("--workers", "2")
    with closing(psycopg2.connect(shop_database)) as blocker:
        with blocker.cursor() as cur:  # the readiness query waits on this lock: a request stays in flight
            cur.execute("LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE")
        answer: list[int] = []

        def slow_request() -> None:
            conn = http.client.HTTPConnection("127.0.0.1", service.port, timeout=30)
            conn.request("GET", "/api/health/ready", headers={"X-Request-ID": "monitor-test-42"})
            answer.append(conn.getresponse().status)
            conn.close()

        thread = threading.Thread(target=slow_request)
        thread.start()
        snap = service.wait_until(lambda s: any(w["in_flight"] for w in s["workers"]), timeout=30)
        busy = next(w for w in snap["workers"] if w["in_flight"])
        session = MonitorSession(busy["monitor"]["terminal"])
        try:
            listed = session.run("requests")
            settings = session.run("settings")
        finally:
            session.close()
        blocker.rollback()
        thread.join(30)
    assert re.search(r"\d+\.\d+s\s+GET\s+/api/health/ready\s+rid=monitor-test-42", listed), listed
    assert '"pool_max"' in settings and '"database_url"' in settings
    assert answer == [200]
