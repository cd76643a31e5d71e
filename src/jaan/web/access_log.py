"""One access-log line per request: method, path, status, bytes, duration, request id.

The fields ride along as ``record.access``, so the JSON formatter of :mod:`jaan.logs`
writes them as keys of a JSON line instead of parsing the text.
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web
from aiohttp.abc import AbstractAccessLogger

from jaan.web.request_id import REQUEST_ID

access_log = logging.getLogger("jaan.access")


class AccessLogger(AbstractAccessLogger):
    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        fields = {
            "method": request.method,
            "path": request.path,
            "status": response.status,
            "bytes": response.body_length,
            "duration_ms": round(time * 1000, 2),
            "request_id": request.get(REQUEST_ID, "-"),
            "remote": request.remote,
        }
        self.logger.info(
            '%(remote)s "%(method)s %(path)s" %(status)s %(bytes)sB %(duration_ms)sms rid=%(request_id)s',
            fields,
            extra={"access": fields},
        )

    @property
    def enabled(self) -> bool:
        return self.logger.isEnabledFor(logging.INFO)


def access_log_options(enabled: bool) -> dict[str, Any]:
    """The AppRunner keyword arguments that install (or silence) this access log."""
    return {"access_log_class": AccessLogger, "access_log": access_log if enabled else None}
