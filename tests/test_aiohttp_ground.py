"""The ground we stand on in aiohttp: the pinned release, the private attributes we use, new-style middlewares.

aiohttp has no public hook for a header/body read deadline or for limiting a streamed body, so
``serving/slow_clients.py`` and ``web/limits.py`` use private attributes, which change between minor
releases. setup.cfg pins the minor release these tests ran on; when someone moves the pin, these
tests say exactly which private attribute changed, instead of the service failing in production.
"""

from __future__ import annotations

import asyncio
import configparser
import inspect
import re
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.streams import AsyncStreamIterator, ChunkTupleAsyncStreamIterator, StreamReader
from aiohttp.test_utils import make_mocked_request
from aiohttp.web_protocol import RequestHandler
from packaging.requirements import Requirement

from jaan.app import create_app
from jaan.serving.tracking import RequestTracker
from jaan.web.errors import PayloadTooLarge
from jaan.web.limits import LimitedStream
from tests.conftest import settings_for_tests

ROOT = Path(__file__).resolve().parents[1]
CHANGED = f"aiohttp {aiohttp.__version__} changed a private attribute that jaan uses"


async def answer(request: web.BaseRequest) -> web.Response:
    return web.Response()


def test_the_installed_aiohttp_is_the_pinned_minor_release():
    config = configparser.ConfigParser()
    config.read(ROOT / "setup.cfg")
    requirements = config["options"]["install_requires"].split("\n")
    [pin] = [Requirement(line) for line in requirements if Requirement(line or "x").name == "aiohttp"]
    assert pin.specifier.contains(aiohttp.__version__), f"aiohttp {aiohttp.__version__} is not {pin}"
    assert str(pin.specifier) in (">=3.14,<3.15", "<3.15,>=3.14"), "move the pin only together with these tests"


async def test_the_connection_protocol_still_has_what_the_slow_client_guard_reads():
    handler = RequestHandler(web.Server(answer), loop=asyncio.get_running_loop())
    # Read by GuardedRequestHandler to tell "waiting for a head" from "a request in progress".
    assert isinstance(getattr(handler, "_request_in_progress", None), bool), f"{CHANGED}: _request_in_progress"
    messages = getattr(handler, "_messages", None)
    assert messages is not None and len(messages) == 0 and hasattr(messages, "popleft"), f"{CHANGED}: _messages"
    # Wrapped by GuardedRequestHandler: called once per request, with the request first.
    wrapped = getattr(RequestHandler, "_handle_request", None)
    assert inspect.iscoroutinefunction(wrapped), f"{CHANGED}: _handle_request"
    assert list(inspect.signature(wrapped).parameters) == ["self", "request", "start_time", "request_handler"], (
        f"{CHANGED}: _handle_request's parameters"
    )
    for public in ("connection_made", "data_received", "force_close"):
        assert callable(getattr(handler, public, None)), f"aiohttp {aiohttp.__version__} lost {public}"


async def test_every_body_reader_of_a_request_still_reads_its_payload_attribute():
    protocol = RequestHandler(web.Server(answer), loop=asyncio.get_running_loop())
    stream = StreamReader(protocol, 2**16, loop=asyncio.get_running_loop())
    request = make_mocked_request("POST", "/", headers={"Content-Type": "application/octet-stream"}, payload=stream)
    assert getattr(request, "_payload", None) is request.content, f"{CHANGED}: BaseRequest._payload"
    clone = request.clone(client_max_size=10)
    assert getattr(clone, "_payload", None) is stream, f"{CHANGED}: clone() no longer keeps _payload"

    # What limits_middleware does: every reader (read, json, post, multipart, content) sees the limit.
    clone._payload = LimitedStream(stream, 5)  # type: ignore[assignment]
    stream.feed_data(b"0123456789")
    stream.feed_eof()
    assert isinstance(clone.content, LimitedStream), f"{CHANGED}: content is not _payload"
    with pytest.raises(PayloadTooLarge):
        await clone.read()


def test_the_stream_iterators_limited_stream_rebuilds_take_what_it_passes():
    assert list(inspect.signature(AsyncStreamIterator).parameters) == ["read_func"], f"{CHANGED}: AsyncStreamIterator"
    assert list(inspect.signature(ChunkTupleAsyncStreamIterator).parameters) == ["stream"], (
        f"{CHANGED}: ChunkTupleAsyncStreamIterator"
    )
    assert "readchunk" in inspect.getsource(ChunkTupleAsyncStreamIterator), f"{CHANGED}: iter_chunks"


# -- new-style middlewares ------------------------------------------------------------------------


def test_every_middleware_is_marked_new_style_in_one_place_never_with_web_middleware(probe_database):
    app = create_app(settings_for_tests(probe_database))
    RequestTracker().install(app)
    assert app.middlewares
    for middleware in app.middlewares:
        assert getattr(middleware, "__middleware_version__", None) == 1, middleware
    # @web.middleware is deprecated on aiohttp's main branch: jaan.web.middleware.middleware marks them.
    decorated = re.compile(r"^\s*@web\.middleware\b", re.MULTILINE)
    users = [path.name for path in (ROOT / "src").rglob("*.py") if decorated.search(path.read_text())]
    assert users == []
