"""One access-log line per request: method, path, status, bytes, duration, request id, client.

Cheap because nothing is formatted or written while a request is answered: aiohttp hands each
finished request to :class:`AccessLogger`, which keeps its raw fields in a per-process buffer,
and a loop timer (every ``FLUSH_INTERVAL`` seconds, or sooner when ``MAX_BUFFERED`` are waiting)
formats them all and writes them to the log's stream in one write.  Each line has the text or
JSON form of every other log line (:mod:`jaan.logs`); while someone else also listens to the
logging module (a test capturing records, another handler), the lines go through it instead, as
records carrying the fields in ``record.access``.

Every field is escaped: a control character (a decoded ``%0a`` in a path, say) is written as
``\\x0a``, so no client can start a line of its own in the log.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import re
import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from jaan import logs
from jaan.web.request_id import REQUEST_ID

access_log = logging.getLogger("jaan.access")

FLUSH_INTERVAL = 0.25  # seconds a line may wait in the buffer
MAX_BUFFERED = 2000
MESSAGE = '%(remote)s "%(method)s %(path)s" %(status)s %(bytes)sB %(duration_ms)sms rid=%(request_id)s'
# C0 and C1 controls, DEL, and the two characters some tools read as line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")

# (wall-clock time, remote, method, path, status, bytes, seconds, request id), oldest first.
Entry = tuple[float, str, str, str, int, int, float, str]
_buffer: list[Entry] = []
_timer: asyncio.TimerHandle | None = None


def escape(text: str) -> str:
    """`text` with every control character written as ``\\xNN`` (``\\uNNNN`` above 0xff)."""
    if text.isprintable():
        return text  # the common case, and the cheap test
    return _CONTROL.sub(_escaped, text)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time_taken: float) -> None:
        global _timer
        _buffer.append(
            (
                time.time(),
                request.remote or "-",
                request.method,
                request.path,
                response.status,
                response.body_length,
                time_taken,
                request.get(REQUEST_ID, "-"),
            )
        )
        if len(_buffer) >= MAX_BUFFERED:
            flush()
        elif _timer is None:
            _timer = asyncio.get_running_loop().call_later(FLUSH_INTERVAL, flush)

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def flush() -> None:
    """Write every buffered line now (the timer does; so does a worker on its way out)."""
    global _timer
    if _timer is not None:
        _timer.cancel()
        _timer = None
    if not _buffer:
        return
    entries = _buffer[:]
    _buffer.clear()
    direct = logs.direct_stream()
    if direct is None:
        for entry in entries:
            fields = _fields(entry)
            record = access_log.makeRecord(
                access_log.name, logging.INFO, __file__, 0, MESSAGE, (fields,), None, extra={"access": fields}
            )
            record.created = entry[0]
            access_log.handle(record)
        return
    handler, json_lines = direct
    text = _json_lines(entries) if json_lines else _text_lines(entries)
    handler.acquire()
    try:
        handler.stream.write(text)
        handler.flush()
    except (OSError, ValueError):  # stderr closed or gone: nothing better to do with a log line
        pass
    finally:
        handler.release()


def _fields(entry: Entry) -> dict[str, Any]:
    _, remote, method, path, status, size, seconds, request_id = entry
    return {
        "method": escape(method),
        "path": escape(path),
        "status": status,
        "bytes": size,
        "duration_ms": round(seconds * 1000, 2),
        "request_id": escape(request_id),
        "remote": escape(remote),
    }


def _text_lines(entries: list[Entry]) -> str:
    # logging.Formatter's default asctime ("2026-11-29 18:12:20,123", local time), once per second.
    prefix_end = f" INFO [{os.environ.get('JAAN_PROCESS_NAME', 'main')} pid={os.getpid()} rid="
    seconds_text: dict[int, str] = {}
    lines = []
    for created, remote, method, path, status, size, seconds, request_id in entries:
        second = int(created)
        stamp = seconds_text.get(second)
        if stamp is None:
            stamp = seconds_text[second] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(second))
        rid = escape(request_id)
        lines.append(
            f"{stamp},{int((created - second) * 1000):03d}{prefix_end}{rid}] jaan.access: {escape(remote)}"
            f' "{escape(method)} {escape(path)}" {status} {size}B {round(seconds * 1000, 2)}ms rid={rid}\n'
        )
    return "".join(lines)


def _json_lines(entries: list[Entry]) -> str:
    process, pid = os.environ.get("JAAN_PROCESS_NAME", "main"), os.getpid()
    seconds_text: dict[int, str] = {}
    lines = []
    for entry in entries:
        fields = _fields(entry)
        second = int(entry[0])
        stamp = seconds_text.get(second)
        if stamp is None:  # the JSON formatter's ISO time in UTC, microseconds and "Z"
            stamp = seconds_text[second] = dt.datetime.fromtimestamp(second, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
        line = {
            "time": f"{stamp}.{int((entry[0] - second) * 1_000_000):06d}Z",
            "level": "INFO",
            "logger": "jaan.access",
            "process": process,
            "pid": pid,
            "request_id": fields["request_id"],
            "message": MESSAGE % fields,
            **fields,
        }
        lines.append(orjson.dumps(line).decode())
    return "\n".join(lines) + "\n"


def access_log_options(enabled: bool) -> dict[str, Any]:
    """The AppRunner keyword arguments that install (or silence) this access log."""
    return {"access_log_class": AccessLogger, "access_log": access_log if enabled else None}
