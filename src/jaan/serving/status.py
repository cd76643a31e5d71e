"""What ``bin/serve status`` shows: the master's snapshot, and the table it prints (like ``pm2 status``)."""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jaan.serving.master import Master

COLUMNS = (
    "slot",
    "pid",
    "state",
    "uptime",
    "rss",
    "requests",
    "in_flight",
    "streams",
    "restarts",
    "pool size/free/waiting",
    "monitor",
)


def snapshot(master: Master) -> dict[str, Any]:
    """The master and every worker, from the last heartbeat each worker sent."""
    workers = []
    for worker in sorted(master.workers.values(), key=lambda w: (w.slot, w.started_at)):
        stats = worker.stats
        ports = worker.spec.monitor_ports
        workers.append(
            {
                "slot": worker.slot,
                "pid": worker.pid,
                "state": worker.state.value,
                "uptime": round(worker.uptime, 1),
                "rss": worker.rss_bytes(),
                "requests": stats.get("requests", 0),
                "in_flight": stats.get("in_flight", 0),
                "restarts": master.slot_starts[worker.slot] - 1,
                "pool": stats.get("pool"),
                "slow_clients_rejected": stats.get("rejected", 0),
                # Live-event subscribers ({"admin": n, "customer": n}): streams open on this worker.
                "subscribers": stats.get("subscribers") or {"admin": 0, "customer": 0},
                "monitor": None
                if ports is None
                else {
                    "host": "127.0.0.1",
                    "terminal": ports.terminal,
                    "web": ports.web if master.settings.monitor_web else None,
                    "console": ports.console if master.settings.monitor_console else None,
                },
            }
        )
    return {
        "ok": True,
        "master": {
            "pid": os.getpid(),
            "uptime": round(time.monotonic() - master.started, 1),
            "state": "stopping" if master.stopping else ("ready" if master.announced else "starting"),
            "address": f"http://{master.address}",
            "workers_wanted": master.target,
            "budget": master.budget.describe(),
            "reload": master.replacements.reload,
        },
        "database": master.database.snapshot(),
        "workers": workers,
    }


def _human_bytes(count: int) -> str:
    return f"{count / 2**20:.0f} MB"


def _human_seconds(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h"


def describe_database(database: dict[str, Any] | None) -> str:
    """One line about the database: what it is, its state, pid and restarts."""
    if not database or database["kind"] != "embedded":
        kind = database["kind"] if database else "external"
        return f"database {kind}: not restarted by this master"
    line = f"database embedded PostgreSQL {database['state']}, pid {database['pid'] or '-'}, "
    line += f"restarts {database['restarts']}"
    if database["last_exit"]:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(database["last_exit_at"]))
        line += f" (last: {database['last_exit']} at {when} UTC)"
    return line


def format_table(snap: dict[str, Any]) -> str:
    """The status as text: a line about the master, then one row per worker."""
    master = snap["master"]
    lines = [
        f"master pid {master['pid']} {master['state']}, up {_human_seconds(master['uptime'])}, "
        f"{master['address']}, {master['workers_wanted']} workers wanted",
        master["budget"],
    ]
    lines.append(describe_database(snap.get("database")))
    if master["reload"]["state"] != "none":
        lines.append(f"last reload: {master['reload']['state']}: {master['reload']['message']}")
    rows = [COLUMNS]
    for w in snap["workers"]:
        pool = w["pool"] or {}
        monitor = w["monitor"]
        rows.append(
            (
                str(w["slot"]),
                str(w["pid"]),
                w["state"],
                _human_seconds(w["uptime"]),
                _human_bytes(w["rss"]),
                str(w["requests"]),
                str(w["in_flight"]),
                str(sum(w["subscribers"].values())),
                str(w["restarts"]),
                f"{pool.get('size', '-')}/{pool.get('free', '-')}/{pool.get('waiting', '-')}",
                (f"127.0.0.1:{monitor['terminal']}" + (f" web:{monitor['web']}" if monitor["web"] else ""))
                if monitor
                else "off",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    lines += ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(lines)
