"""A host killed mid-load: nginx sends every GET to the other host, writes go on, the host rejoins.

Named to run last: it takes host 0 down and back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from tests.deploy.conftest import ROOT, call, make_product, rehearse

GET_MIX = """
local paths = {"/api/products", "/api/products?page=2&per_page=5", "/api/categories", "/api/health",
               "/api/products/slug/%s", "/api/settings/public"}
local n = 0
request = function()
  n = n + 1
  return wrk.format("GET", paths[(n %% #paths) + 1])
end
"""


def children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def served_requests(data_dir: str) -> int:
    result = subprocess.run(
        [sys.executable, str(ROOT / "bin" / "serve"), "status", "--json", "--data-dir", data_dir],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return sum(worker["requests"] for worker in json.loads(result.stdout)["workers"])


def test_kill_9_of_a_host_mid_load_fails_no_get_and_the_host_rejoins(rehearsal, tmp_path):
    directory, topology = rehearsal
    product = make_product(topology["primary"]["dsn"])
    script = tmp_path / "mix.lua"
    script.write_text(GET_MIX % product["slug"])
    assert call(topology["url"] + "/api/settings/public").status == 200
    victim = topology["hosts"][0]
    served_before = served_requests(victim["data_dir"])
    wrk = subprocess.Popen(
        ["wrk", "-t2", "-c16", "-d8s", "--timeout", "5s", "-s", str(script), topology["url"]],
        stdout=subprocess.PIPE,
        text=True,
    )
    # Mid-load: the kill comes once host 0 has answered some of wrk's requests (no fixed sleep).
    stop = time.monotonic() + 60
    while served_requests(victim["data_dir"]) < served_before + 50:
        assert time.monotonic() < stop and wrk.poll() is None, "host 0 got none of wrk's requests"
        time.sleep(0.1)
    workers = children(victim["master_pid"])
    assert workers, "host 0 has no workers to kill"
    for pid in [victim["master_pid"], *workers]:
        os.kill(pid, signal.SIGKILL)
    # Writes go on through the other host meanwhile.  A POST that nginx had already sent to the
    # dead host (on a kept-alive connection) is 502: nginx cannot know whether it was applied, so it
    # never resends a non-idempotent request; the client retries (with an Idempotency-Key for
    # checkouts).  The next one goes to the live host.
    contact = {
        "fullName": "Rehearsal",
        "companyName": "Loopback Foods",
        "businessEmail": "ops@example.com",
        "phoneNumber": "+31 20 123 4567",
        "message": "Written while host 0 was down.",
    }
    statuses = [call(topology["url"] + "/api/contact", "POST", contact).status for _ in range(3)]
    assert statuses[-1] in (200, 201) and set(statuses) <= {200, 201, 502}, statuses
    output, _ = wrk.communicate(timeout=60)
    print(output)
    total = re.search(r"(\d+) requests in", output)
    assert total is not None and int(total.group(1)) > 100
    assert "Non-2xx" not in output, output
    assert "Socket errors" not in output, output

    restarted = rehearse("start-host", str(directory), "0")
    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    # nginx tries the host again once its fail_timeout (10 s) has passed; it then gets its share.
    before = served_requests(victim["data_dir"])
    stop = time.monotonic() + 60
    while served_requests(victim["data_dir"]) < before + 5:
        assert time.monotonic() < stop, "the restarted host got no requests through nginx"
        threads = [threading.Thread(target=call, args=(topology["url"] + "/api/health",)) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        time.sleep(0.5)
