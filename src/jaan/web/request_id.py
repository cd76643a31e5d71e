"""Every request gets an id: the client's ``X-Request-ID`` when it is sane, else a new one.

It is echoed in the response, carried by every log line written while the request is
handled (through a context variable), and shown in the access log.  The request pipeline
(:mod:`jaan.web.pipeline`) assigns it first thing.
"""

from __future__ import annotations

import contextvars
import itertools
import os
import re
import uuid

from aiohttp import web

HEADER = "X-Request-ID"
_SANE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")
REQUEST_ID: web.RequestKey[str] = web.RequestKey("request_id", str)
current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")


# A random prefix per process and a counter: unique across workers and restarts without a
# system call per request (uuid4 reads the kernel's random source every time).
# Forked workers draw their own prefix, or they would all number requests alike.
_prefix = ""
_counter = itertools.count(1)


def _new_sequence() -> None:
    global _prefix, _counter
    _prefix, _counter = uuid.uuid4().hex[:16], itertools.count(1)


_new_sequence()
os.register_at_fork(after_in_child=_new_sequence)


def request_id_of(request: web.Request) -> str:
    offered = request.headers.get(HEADER)
    if offered and _SANE.fullmatch(offered):
        return offered
    return f"{_prefix}{next(_counter):016x}"
