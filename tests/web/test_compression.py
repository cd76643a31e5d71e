"""Response compression: negotiation, when we compress and when we don't, and why not aiohttp-compress."""

from __future__ import annotations

import asyncio
import gzip
import json
import zlib
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import brotli
import pytest
from aiohttp import ClientResponse, ClientTimeout, web
from aiohttp.test_utils import TestClient
from aiohttp_compress import compress_middleware
from pytest_aiohttp import AiohttpClient

from jaan.web.compression import EXECUTOR_THRESHOLD, compression_middleware, negotiate

Client = TestClient[web.Request, web.Application]

TEXT = "Jaan Connect: fresh produce, dry goods and dairy for the trade. " * 160  # ~10 KiB
BIG = json.dumps([{"sku": f"SKU-{i:06d}", "name": "Basmati rice 5 kg", "price": "12.40"} for i in range(3000)])
SVG = '<svg xmlns="http://www.w3.org/2000/svg">' + '<rect width="1" height="1"/>' * 200 + "</svg>"
# Not a real image, but high-entropy like one: the point is the type, not the pixels.
PNG = b"\x89PNG\r\n\x1a\n" + bytes((i * 7919) % 251 for i in range(8000))


def decode(coding: str | None, data: bytes) -> bytes:
    if coding == "gzip":
        return gzip.decompress(data)
    if coding == "br":
        out: bytes = brotli.decompress(data)
        return out
    if coding == "deflate":
        return zlib.decompress(data)
    assert coding is None, coding
    return data


def text(body: str, **kwargs: Any) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(text=body, **kwargs)

    return handler


def raw(body: bytes, content_type: str, **kwargs: Any) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, **kwargs)

    return handler


async def json_handler(request: web.Request) -> web.Response:
    return web.json_response(text=BIG)


async def stream_handler(request: web.Request) -> web.StreamResponse:
    resp = web.StreamResponse(headers={"Content-Type": "text/plain"})
    await resp.prepare(request)
    for _ in range(4):
        await resp.write(TEXT.encode())
    await resp.write_eof()
    return resp


async def raising_handler(request: web.Request) -> web.Response:
    raise web.HTTPBadRequest(text=TEXT)


async def prepared_handler(request: web.Request) -> web.Response:
    resp = web.Response(text=TEXT)
    await resp.prepare(request)  # headers (identity, full length) are on the wire already
    return resp


async def self_compressing_handler(request: web.Request) -> web.Response:
    resp = web.Response(text=TEXT)
    resp.enable_compression()
    return resp


ROUTES: dict[str, Callable[[web.Request], Any]] = {
    "/text": text(TEXT),
    "/big": text(BIG),
    "/json": json_handler,
    "/problem": raw(BIG.encode(), "application/problem+json"),
    "/svg": raw(SVG.encode(), "image/svg+xml"),
    "/png": raw(PNG, "image/png"),
    "/octet": raw(TEXT.encode(), "application/octet-stream"),
    "/zip": raw(TEXT.encode(), "application/zip"),
    "/woff2": raw(TEXT.encode(), "font/woff2"),
    "/tiny": text("x" * 200),
    "/at-min-size": text("x" * 1024),
    "/precompressed": raw(gzip.compress(BIG.encode()), "text/plain", headers={"Content-Encoding": "gzip"}),
    "/vary-origin": text(TEXT, headers={"Vary": "Origin"}),
    "/vary-has-it": text(TEXT, headers={"Vary": "Origin, accept-encoding"}),
    "/vary-star": text(TEXT, headers={"Vary": "*"}),
    "/no-content": text(TEXT, status=204),
    "/not-modified": text(TEXT, status=304),
    "/partial": text(TEXT, status=206, headers={"Content-Range": f"bytes 0-{len(TEXT) - 1}/99999"}),
    "/etag": text(TEXT, headers={"ETag": '"v1"'}),
    "/weak-etag": text(TEXT, headers={"ETag": 'W/"v1"'}),
    "/stale-length": text(TEXT, headers={"Content-Length": str(len(TEXT))}),
    "/stream": stream_handler,
    "/prepared": prepared_handler,
    "/raised": raising_handler,
    "/self-compressing": self_compressing_handler,
}


@pytest.fixture
async def client(aiohttp_client: AiohttpClient, tmp_path: Path) -> Client:
    served = tmp_path / "catalogue.txt"
    served.write_text(TEXT)

    async def file_handler(request: web.Request) -> web.FileResponse:
        return web.FileResponse(served)

    app = web.Application(middlewares=[compression_middleware()])
    for path, handler in {**ROUTES, "/file": file_handler}.items():
        app.router.add_get(path, handler)
    return await aiohttp_client(app, auto_decompress=False)


async def fetch(
    client: Client, path: str, accept: str | None = "gzip, br", method: str = "GET"
) -> tuple[ClientResponse, bytes]:
    """The response and its raw (still encoded) body; accept=None sends no Accept-Encoding at all."""
    # A wrong Content-Length shows up as a hung read: fail in seconds, not at the pytest timeout.
    timeout = ClientTimeout(total=10)
    if accept is None:
        resp = await client.request(method, path, skip_auto_headers=["Accept-Encoding"], timeout=timeout)
    else:
        resp = await client.request(method, path, headers={"Accept-Encoding": accept}, timeout=timeout)
    async with resp:
        return resp, await resp.read()


# --- negotiate(): the Accept-Encoding grammar of RFC 9110 §12.5.3 -------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        ("gzip", "gzip"),
        ("br", "br"),
        ("GZIP", "gzip"),
        ("x-gzip", "gzip"),
        ("gzip, br", "br"),
        ("br;q=0.5, gzip;q=0.5", "br"),
        ("br;q=0.4, gzip;q=0.8", "gzip"),
        ("gzip;q=1.0, br;q=0.999", "gzip"),
        (" gzip ; q=0.3 , br ; Q=0.2 ", "gzip"),
        ("deflate", None),
        ("deflate, zstd", None),
        ("*", "br"),
        ("br;q=0, *", "gzip"),
        ("*;q=0", None),
        ("gzip, identity;q=0", "gzip"),
        ("gzip;q=0.5, identity", None),
        ("gzip;q=0.5, identity;q=0.5", "gzip"),
        ("*;q=0.5, identity;q=0.1", "br"),
        ("gzip;q=2", None),
        ("gzip;q=0.1234", None),
        ("gzip;q=abc, br", "br"),
        ("", None),
        (",,;", None),
    ],
)
def test_negotiate_follows_rfc_9110(accept: str, expected: str | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize("accept", ["gzip;q=0", "gzip;q=0.0", "gzip; q=0.000", "gzip;Q=0", "br;q=0, gzip;q=0"])
def test_negotiate_q0_means_not_acceptable(accept: str) -> None:
    assert negotiate(accept) is None


# --- the middleware -------------------------------------------------------------------------------


async def test_gzip_is_sent_when_only_gzip_is_accepted(client: Client) -> None:
    resp, body = await fetch(client, "/text", "gzip")
    assert resp.headers["Content-Encoding"] == "gzip"
    assert decode("gzip", body) == TEXT.encode()


async def test_brotli_preferred_when_both_accepted(client: Client) -> None:
    resp, body = await fetch(client, "/text", "gzip, deflate, br, zstd")  # what browsers send
    assert resp.headers["Content-Encoding"] == "br"
    assert decode("br", body) == TEXT.encode()


async def test_higher_q_wins_over_brotli_preference(client: Client) -> None:
    resp, _ = await fetch(client, "/text", "br;q=0.5, gzip")
    assert resp.headers["Content-Encoding"] == "gzip"


async def test_gzip_q0_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/text", "gzip;q=0")
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode()


async def test_no_accept_encoding_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/text", accept=None)
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode()


async def test_only_unsupported_codings_is_not_compressed(client: Client) -> None:
    resp, _ = await fetch(client, "/text", "deflate, zstd")
    assert "Content-Encoding" not in resp.headers


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_large_body_round_trips_through_gzip_and_brotli(client: Client, coding: str) -> None:
    assert len(BIG) > EXECUTOR_THRESHOLD  # so this also goes through the executor path
    resp, body = await fetch(client, "/big", coding)
    assert resp.headers["Content-Encoding"] == coding
    assert len(body) < len(BIG) // 5
    assert decode(coding, body) == BIG.encode()


async def test_content_length_is_the_compressed_length(client: Client) -> None:
    resp, body = await fetch(client, "/text", "gzip")
    assert int(resp.headers["Content-Length"]) == len(body) < len(TEXT)


async def test_stale_content_length_from_handler_is_replaced(client: Client) -> None:
    resp, body = await fetch(client, "/stale-length", "br")
    assert resp.headers["Content-Encoding"] == "br"
    assert int(resp.headers["Content-Length"]) == len(body)
    assert decode("br", body) == TEXT.encode()


async def test_head_reports_the_same_encoding_and_length_as_get(client: Client) -> None:
    get, _ = await fetch(client, "/text", "gzip")
    head, body = await fetch(client, "/text", "gzip", method="HEAD")
    assert body == b""
    assert head.headers["Content-Encoding"] == get.headers["Content-Encoding"] == "gzip"
    assert head.headers["Content-Length"] == get.headers["Content-Length"]


async def test_vary_is_always_sent(client: Client) -> None:
    for path, accept in [
        ("/text", "gzip"),
        ("/text", None),
        ("/tiny", "gzip"),
        ("/png", "br"),
        ("/file", "br"),
    ]:
        resp, _ = await fetch(client, path, accept)
        assert resp.headers.getall("Vary") == ["Accept-Encoding"], (path, accept)


async def test_vary_is_sent_on_raised_http_errors(client: Client) -> None:
    resp, body = await fetch(client, "/raised", "gzip")
    assert resp.status == 400
    assert resp.headers["Vary"] == "Accept-Encoding"
    assert decode(resp.headers.get("Content-Encoding"), body) == TEXT.encode()


async def test_vary_is_merged_with_the_handlers_vary(client: Client) -> None:
    resp, _ = await fetch(client, "/vary-origin", "gzip")
    assert resp.headers.getall("Vary") == ["Origin, Accept-Encoding"]


async def test_vary_is_not_duplicated(client: Client) -> None:
    resp, _ = await fetch(client, "/vary-has-it", "gzip")
    assert resp.headers.getall("Vary") == ["Origin, accept-encoding"]
    resp, _ = await fetch(client, "/vary-star", "gzip")
    assert resp.headers.getall("Vary") == ["*"]


async def test_tiny_body_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/tiny", "gzip, br")
    assert "Content-Encoding" not in resp.headers
    assert body == b"x" * 200


async def test_body_of_exactly_min_size_is_compressed(client: Client) -> None:
    resp, _ = await fetch(client, "/at-min-size", "gzip")
    assert resp.headers["Content-Encoding"] == "gzip"


async def test_min_size_is_a_parameter(aiohttp_client: AiohttpClient) -> None:
    app = web.Application(middlewares=[compression_middleware(min_size=100)])
    app.router.add_get("/tiny", ROUTES["/tiny"])
    client = await aiohttp_client(app, auto_decompress=False)
    resp, body = await fetch(client, "/tiny", "gzip")
    assert resp.headers["Content-Encoding"] == "gzip"
    assert decode("gzip", body) == b"x" * 200


@pytest.mark.parametrize("path", ["/json", "/problem", "/svg"])
async def test_json_and_xml_based_types_are_compressed(client: Client, path: str) -> None:
    resp, _ = await fetch(client, path, "gzip")
    assert resp.headers["Content-Encoding"] == "gzip"


async def test_png_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/png", "gzip, br")
    assert "Content-Encoding" not in resp.headers
    assert body == PNG


@pytest.mark.parametrize("path", ["/octet", "/zip", "/woff2"])
async def test_binary_types_are_not_compressed(client: Client, path: str) -> None:
    resp, body = await fetch(client, path, "gzip, br")
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode()


async def test_already_encoded_body_is_left_alone(client: Client) -> None:
    resp, body = await fetch(client, "/precompressed", "br, gzip")
    assert len(body) > 1024  # big enough to be compressed, were it not encoded already
    assert resp.headers["Content-Encoding"] == "gzip"
    assert gzip.decompress(body) == BIG.encode()


@pytest.mark.parametrize(("path", "status"), [("/no-content", 204), ("/not-modified", 304)])
async def test_bodyless_statuses_are_not_compressed(client: Client, path: str, status: int) -> None:
    resp, body = await fetch(client, path, "gzip")
    assert resp.status == status
    assert "Content-Encoding" not in resp.headers
    assert body == b""


async def test_partial_content_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/partial", "gzip")
    assert resp.status == 206
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode()


async def test_strong_etag_is_weakened_when_compressed(client: Client) -> None:
    resp, _ = await fetch(client, "/etag", "gzip")
    assert resp.headers["ETag"] == 'W/"v1"'
    resp, _ = await fetch(client, "/etag", None)
    assert resp.headers["ETag"] == '"v1"'
    resp, _ = await fetch(client, "/weak-etag", "gzip")
    assert resp.headers["ETag"] == 'W/"v1"'


async def test_stream_response_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/stream", "gzip, br")
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode() * 4


async def test_response_prepared_by_handler_is_left_alone(client: Client) -> None:
    resp, body = await fetch(client, "/prepared", "gzip, br")
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode()


async def test_file_response_is_not_compressed(client: Client) -> None:
    resp, body = await fetch(client, "/file", "gzip, br")
    assert "Content-Encoding" not in resp.headers
    assert body == TEXT.encode()


async def test_handler_using_aiohttp_compression_is_not_compressed_twice(client: Client) -> None:
    resp, body = await fetch(client, "/self-compressing", "gzip")
    assert decode(resp.headers["Content-Encoding"], body) == TEXT.encode()


class RecordingExecutor(ThreadPoolExecutor):
    """A real thread pool that remembers which functions it ran."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.ran: list[Callable[..., Any]] = []

    def submit(self, fn, /, *args, **kwargs):
        self.ran.append(fn)
        return super().submit(fn, *args, **kwargs)

    def compressions(self) -> int:
        return sum(fn.__module__ == "jaan.web.compression" for fn in self.ran)


@pytest.fixture
async def executor() -> AsyncIterator[RecordingExecutor]:
    pool = RecordingExecutor()
    asyncio.get_running_loop().set_default_executor(pool)
    yield pool
    pool.shutdown(wait=True)


@pytest.mark.parametrize("coding", ["gzip", "br"])
async def test_large_body_is_compressed_off_the_event_loop(
    executor: RecordingExecutor, client: Client, coding: str
) -> None:
    resp, _ = await fetch(client, "/big", coding)
    assert resp.headers["Content-Encoding"] == coding
    assert executor.compressions() == 1


async def test_small_body_is_compressed_inline(executor: RecordingExecutor, client: Client) -> None:
    assert len(TEXT) < EXECUTOR_THRESHOLD
    resp, _ = await fetch(client, "/text", "gzip")
    assert resp.headers["Content-Encoding"] == "gzip"
    assert executor.compressions() == 0


# --- why not aiohttp-compress -----------------------------------------------------------------------


class TestWhyNotAiohttpCompress:
    """What aiohttp-compress 0.2.1 (the package the design card names) really does.

    These pass while it behaves as today; each is a reason jaan.web.compression exists.
    """

    @pytest.fixture
    async def theirs(self, aiohttp_client: AiohttpClient) -> Client:
        app = web.Application(middlewares=[compress_middleware])
        for path in ("/text", "/tiny", "/png", "/precompressed"):
            app.router.add_get(path, ROUTES[path])
        return await aiohttp_client(app, auto_decompress=False)

    async def test_it_compresses_although_client_sent_gzip_q0(self, theirs: Client) -> None:
        resp, body = await fetch(theirs, "/text", "gzip;q=0")
        assert resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == TEXT.encode()

    async def test_it_sends_deflate_the_client_refused(self, theirs: Client) -> None:
        resp, body = await fetch(theirs, "/text", "deflate;q=0, gzip")
        assert resp.headers["Content-Encoding"] == "deflate"
        assert zlib.decompress(body) == TEXT.encode()

    async def test_it_sends_deflate_not_gzip_to_browsers(self, theirs: Client) -> None:
        resp, _ = await fetch(theirs, "/text", "gzip, deflate, br, zstd")
        assert resp.headers["Content-Encoding"] == "deflate"

    async def test_it_sends_no_vary(self, theirs: Client) -> None:
        for accept in ("gzip", None):
            resp, _ = await fetch(theirs, "/text", accept)
            assert "Vary" not in resp.headers

    async def test_it_compresses_a_200_byte_body(self, theirs: Client) -> None:
        resp, body = await fetch(theirs, "/tiny", "gzip")
        assert resp.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(body) == b"x" * 200

    async def test_it_offers_no_brotli(self, theirs: Client) -> None:
        resp, body = await fetch(theirs, "/text", "br")
        assert "Content-Encoding" not in resp.headers
        assert body == TEXT.encode()
        resp, _ = await fetch(theirs, "/text", "br, gzip")
        assert resp.headers["Content-Encoding"] == "gzip"

    async def test_it_compresses_png(self, theirs: Client) -> None:
        resp, _ = await fetch(theirs, "/png", "gzip")
        assert resp.headers["Content-Encoding"] == "gzip"

    async def test_it_double_compresses_an_already_gzipped_body(self, theirs: Client) -> None:
        resp, body = await fetch(theirs, "/precompressed", "gzip")
        assert resp.headers.getall("Content-Encoding") == ["gzip"]  # says once...
        assert gzip.decompress(gzip.decompress(body)) == BIG.encode()  # ...is twice
