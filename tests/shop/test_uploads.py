"""Image uploads: only real images, stored under random names, served safely."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib

import psycopg2
import pytest
from aiohttp import FormData


def png_bytes(size: int = 64) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x7f" * size * 3 for _ in range(size))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 200
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 100
HTML = b"<html><script>alert(document.cookie)</script></html>"


def form(*files: tuple[str, bytes, str]) -> FormData:
    data = FormData()
    for name, content, declared in files:
        data.add_field("files", io.BytesIO(content), filename=name, content_type=declared)
    return data


def upload_rows(dsn: str) -> int:
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute("SELECT count(*) FROM uploads")
        (count,) = cur.fetchone()
    conn.close()
    return int(count)


async def test_images_are_stored_and_served_with_their_sniffed_type(make_client, admin, data_dir):
    client = await make_client(public_url="https://cdn.shop.example")
    response = await client.post(
        "/api/admin/uploads",
        data=form(
            ("rice.png", png_bytes(), "image/png"),
            ("tea.jpeg", JPEG, "image/jpeg"),
            ("oil.webp", WEBP, "application/octet-stream"),
        ),
        headers={**admin.headers, "Host": "evil.example"},
    )
    assert response.status == 200
    urls = (await response.json())["data"]["urls"]
    assert len(urls) == 3
    assert all(url.startswith("https://cdn.shop.example/uploads/") for url in urls)  # never the Host header
    assert [url.rsplit(".", 1)[1] for url in urls] == ["png", "jpg", "webp"]
    served = await client.get("/uploads/" + urls[0].rsplit("/", 1)[1])
    assert served.status == 200
    assert served.headers["Content-Type"] == "image/png"
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"]
    assert await served.read() == png_bytes()


async def test_html_renamed_png_is_refused_and_nothing_is_kept(make_client, admin, data_dir, probe_database):
    client = await make_client()
    before_rows = upload_rows(probe_database)
    before_files = set((data_dir / "uploads").glob("*")) if (data_dir / "uploads").exists() else set()
    response = await client.post(
        "/api/admin/uploads",
        data=form(("ok.png", png_bytes(), "image/png"), ("evil.png", HTML, "image/png")),
        headers=admin.headers,
    )
    assert response.status == 415
    assert "evil.png" in (await response.json())["error"]
    assert upload_rows(probe_database) == before_rows
    assert set((data_dir / "uploads").glob("*")) == before_files


async def test_more_than_ten_files_is_400(make_client, admin):
    client = await make_client()
    files = [(f"{n}.png", png_bytes(8), "image/png") for n in range(11)]
    response = await client.post("/api/admin/uploads", data=form(*files), headers=admin.headers)
    assert response.status == 400
    assert "At most 10" in (await response.json())["error"]


async def test_no_files_is_400(make_client, admin):
    client = await make_client()
    response = await client.post(
        "/api/admin/uploads",
        data=b"--b--\r\n",
        headers={**admin.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status == 400
    assert (await response.json())["error"] == "No files uploaded"


async def test_other_form_fields_are_400(make_client, admin):
    client = await make_client()
    data = FormData(default_to_multipart=True)
    data.add_field("note", "hello")
    response = await client.post("/api/admin/uploads", data=data, headers=admin.headers)
    assert response.status == 400
    assert "files" in (await response.json())["error"]


async def test_urlencoded_body_is_415(make_client, admin):
    client = await make_client()
    response = await client.post("/api/admin/uploads", data={"files": "x"}, headers=admin.headers)
    assert response.status == 415


async def test_uploads_are_admin_only(make_client, customer):
    client = await make_client()
    data = form(("a.png", png_bytes(8), "image/png"))
    assert (await client.post("/api/admin/uploads", data=data)).status == 401
    data = form(("a.png", png_bytes(8), "image/png"))
    assert (await client.post("/api/admin/uploads", data=data, headers=customer.headers)).status == 403


async def test_uploads_over_50_mb_are_413(make_client, admin):
    client = await make_client()
    response = await client.post(
        "/api/admin/uploads",
        data=b"x",
        headers={
            **admin.headers,
            "Content-Length": str(51 * 1024 * 1024),
            "Content-Type": "multipart/form-data; boundary=x",
        },
    )
    assert response.status == 413


@pytest.mark.parametrize("name", ["..%2Fsecrets.png", "notes.txt", "0" * 32 + ".html", "0" * 32 + ".png"])
async def test_only_stored_names_are_served(make_client, name):
    client = await make_client()
    assert (await client.get(f"/uploads/{name}")).status == 404


async def test_images_live_in_the_database_and_revalidate_with_their_etag(make_client, admin, data_dir, probe_database):
    client = await make_client()
    response = await client.post(
        "/api/admin/uploads", data=form(("a.png", png_bytes(), "image/png")), headers=admin.headers
    )
    assert response.status == 200
    name = (await response.json())["data"]["urls"][0].rsplit("/", 1)[1]
    assert not (data_dir / "uploads" / name).exists()  # another host could not read a local file
    with psycopg2.connect(probe_database) as conn, conn.cursor() as cur:
        cur.execute("SELECT content FROM uploads WHERE stored_name = %s", (name,))
        assert bytes(cur.fetchone()[0]) == png_bytes()
    conn.close()
    served = await client.get(f"/uploads/{name}")
    assert served.status == 200 and served.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    etag = served.headers["ETag"]
    again = await client.get(f"/uploads/{name}", headers={"If-None-Match": etag})
    assert again.status == 304 and again.headers["ETag"] == etag
    assert await again.read() == b""


PNG_PART = b'--b\r\nContent-Disposition: form-data; name="files"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n'


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (PNG_PART + png_bytes(8) + b"\r\n--b--\r\n", "multipart/form-data", 400),  # no boundary
        (b"\x00\xffthis is not a multipart body at all" * 10, "multipart/form-data; boundary=b", 400),
        (b"--b\r\nContent-Disposition form-data no colon\r\n\r\n" + png_bytes(8) + b"\r\n--b--\r\n", None, 400),
        (PNG_PART.replace(b"a.png", b"a\x00.png") + png_bytes(8) + b"\r\n--b--\r\n", None, 400),
        (PNG_PART.replace(b"a.png", b"a\x1b[31m.png") + png_bytes(8) + b"\r\n--b--\r\n", None, 400),
        (PNG_PART + png_bytes(8) + b"\r\n--b--\r\n", "text/plain", 415),
        (PNG_PART + png_bytes(8) + b"\r\n--b--\r\n", "multipart/mixed; boundary=b", 415),
    ],
    ids=["no-boundary", "garbage", "bad-part-header", "nul-in-file-name", "escape-in-file-name", "text", "mixed"],
)
async def test_malformed_uploads_are_4xx_and_keep_nothing(
    make_client, admin, probe_database, body, content_type, status
):
    client = await make_client()
    before = upload_rows(probe_database)
    headers = {**admin.headers, "Content-Type": content_type or "multipart/form-data; boundary=b"}
    response = await client.post("/api/admin/uploads", data=body, headers=headers)
    assert response.status == status, await response.text()
    assert (await response.json())["success"] is False
    assert upload_rows(probe_database) == before


async def test_a_body_over_the_limit_mid_stream_keeps_nothing(make_client, admin, probe_database):
    client = await make_client(max_body_size=1024, max_upload_size=64 * 1024)
    before = upload_rows(probe_database)

    async def chunked():  # no Content-Length: the limit trips only after the first file is read
        yield PNG_PART + png_bytes(8) + b"\r\n"
        yield PNG_PART + png_bytes(8)[:16]
        for _ in range(100):
            yield b"\x00" * 4096

    response = await client.post(
        "/api/admin/uploads",
        data=chunked(),
        headers={**admin.headers, "Content-Type": "multipart/form-data; boundary=b"},
    )
    assert response.status == 413
    assert upload_rows(probe_database) == before


async def test_a_client_gone_mid_body_keeps_nothing(make_client, admin, probe_database):
    client = await make_client()
    before = upload_rows(probe_database)
    _reader, writer = await asyncio.open_connection(client.host, client.port)
    head = PNG_PART + png_bytes(8) + b"\r\n" + PNG_PART + png_bytes(8)[:16]
    writer.write(
        b"POST /api/admin/uploads HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {admin.token}\r\n".encode()
        + b"Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
        + head
    )
    await writer.drain()
    await asyncio.sleep(0.3)
    writer.close()
    # The next upload, complete, adds exactly its own file.
    ok = await client.post("/api/admin/uploads", data=form(("a.png", png_bytes(8), "image/png")), headers=admin.headers)
    assert ok.status == 200
    assert upload_rows(probe_database) == before + 1
