"""Running under systemd: the readiness protocol bin/serve speaks, and the unit file in deploy/."""

from __future__ import annotations

import configparser
import signal
import socket
import time
from pathlib import Path

from jaan.settings import Settings
from tests.serving.conftest import ROOT


def receive(sock: socket.socket, wanted: str, timeout: float = 60.0) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while not any(wanted in m for m in messages):
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        messages.append(sock.recv(4096).decode())
    return messages


def test_serve_tells_systemd_when_it_is_ready_reloading_and_stopping(serve, tmp_path: Path):
    path = tmp_path / "notify.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as notify:
        notify.bind(str(path))
        service = serve("--workers", "1", env={"NOTIFY_SOCKET": str(path)})
        assert any(
            m.startswith("READY=1") and f"MAINPID={service.process.pid}" in m for m in receive(notify, "READY=1")
        )
        service.signal(signal.SIGHUP)
        assert any("MONOTONIC_USEC=" in m for m in receive(notify, "RELOADING=1"))
        receive(notify, "READY=1")
        service.signal(signal.SIGTERM)
        receive(notify, "STOPPING=1")
        assert service.wait_exit(timeout=60) == 0


def test_the_unit_file_reloads_and_stops_the_master_the_graceful_way():
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.read(ROOT / "deploy" / "jaan.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert "bin/serve --workers auto" in service["ExecStart"]
    assert "bin/serve reload" in service["ExecReload"]
    assert service["KillMode"] == "mixed" and service["KillSignal"] == "SIGTERM"
    assert float(service["TimeoutStopSec"]) > Settings.from_env({}).graceful_timeout
    assert int(service["LimitNOFILE"]) >= 65536
