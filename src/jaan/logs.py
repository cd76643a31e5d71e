"""Logging for every process: text or JSON lines on stderr, each with pid and request id."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sys
from typing import TextIO

from jaan.web.request_id import current_request_id


class _Context(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        record.process_name = os.environ.get("JAAN_PROCESS_NAME", "main")
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat().replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "process": getattr(record, "process_name", "main"),
            "pid": record.process,
            "request_id": getattr(record, "request_id", "-"),
            "message": record.getMessage(),
        }
        if hasattr(record, "access"):
            entry.update(record.access)
        if record.exc_info:
            entry["traceback"] = self.formatException(record.exc_info)
        return json.dumps(entry)


TEXT_FORMAT = "%(asctime)s %(levelname)s [%(process_name)s pid=%(process)d rid=%(request_id)s] %(name)s: %(message)s"


_configured: tuple[logging.StreamHandler[TextIO], bool] | None = None


def configure(level: str = "INFO", json_lines: bool = False, stream: TextIO | None = None) -> None:
    """Send every log record to stderr (or `stream`), as text or JSON lines."""
    global _configured
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(_Context())
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    _configured = (handler, json_lines)


def direct_stream() -> tuple[logging.StreamHandler[TextIO], bool] | None:
    """The handler :func:`configure` installed and whether it writes JSON, while it is the only one.

    The access log writes its pre-formatted lines straight to it; when anyone else listens too
    (another handler, a test capturing records) it goes through logging like every other line.
    """
    if _configured is not None and logging.getLogger().handlers == [_configured[0]]:
        return _configured
    return None
