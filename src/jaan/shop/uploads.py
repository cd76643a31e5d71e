"""Product images: the admin upload (#6) and serving them (/uploads/{name}).

Only images whose bytes say JPEG, PNG, WebP or GIF are kept, whatever their name or declared
type claims (an HTML file renamed .png is refused: it would be stored XSS on our origin).
The bytes live in the ``uploads`` table, so every app host serves every image: a request's
files are read whole (the route's body limit bounds them), then written with their records in
one transaction, so an upload that fails anywhere (a refused file, 413 mid-stream, a client
that disconnects, the database) leaves nothing behind.  Images are served with the sniffed
type, ``nosniff``, an ETag and a year's ``immutable`` cache life (names are random and an
image never changes), so nginx and browsers keep them.  Links are built from the configured
public URL, never from the request's Host header.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

import psycopg2
from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from jaan.routes import Access, Raw, RouteTable
from jaan.settings import Settings
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.state import DATABASE, SETTINGS
from jaan.web.answers import Envelope, Shape
from jaan.web.envelope import ok
from jaan.web.errors import InvalidInput, NotFound, UnsupportedMediaType
from jaan.web.etag import matches

routes = RouteTable("uploads")

MAX_FILES = 10
MB = 1024 * 1024
CHUNK = 256 * 1024
# (magic bytes at offset, offset) -> (content type, extension)
_SIGNATURES: list[tuple[bytes, int, str, str]] = [
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"GIF87a", 0, "image/gif", "gif"),
    (b"GIF89a", 0, "image/gif", "gif"),
    (b"WEBP", 8, "image/webp", "webp"),  # after b"RIFF" + 4 length bytes
]
_TYPE_OF_EXTENSION = {ext: ctype for _, _, ctype, ext in _SIGNATURES}
STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|webp|gif)")
# Control characters (NUL first) and lone surrogates: PostgreSQL cannot store them, logs must not.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
IMMUTABLE = "public, max-age=31536000, immutable"


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of an image by its first bytes, or None."""
    for magic, offset, content_type, extension in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic and (extension != "webp" or head[:4] == b"RIFF"):
            return content_type, extension
    return None


def public_base(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


@dataclass
class Image:
    stored_name: str
    original_name: str
    content_type: str
    content: bytes


def _original_name(part: BodyPartReader) -> str:
    name = part.filename or ""
    if _UNPRINTABLE.search(name):
        raise InvalidInput(
            "Invalid file name", details={"files": "a file name must not contain control characters or NUL"}
        )
    return name[:255]


async def _read_image(part: BodyPartReader) -> Image:
    """One multipart file, whole, refused unless its bytes are an image."""
    original_name = _original_name(part)
    content = bytearray(await part.read_chunk(CHUNK))
    kind = sniff(bytes(content[:16]))
    if kind is None:
        raise UnsupportedMediaType(f"{original_name or 'file'}: only JPEG, PNG, WebP and GIF images can be uploaded")
    while chunk := await part.read_chunk(CHUNK):
        content += chunk
    content_type, extension = kind
    return Image(f"{secrets.token_hex(16)}.{extension}", original_name, content_type, bytes(content))


async def read_images(request: web.Request) -> list[Image]:
    """Every image of a ``multipart/form-data`` body's ``files`` field; a malformed body is 400."""
    if request.content_type != "multipart/form-data":
        raise UnsupportedMediaType("Expected multipart/form-data with a `files` field")
    images: list[Image] = []
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name != "files":
                raise InvalidInput("Unexpected form field: send images in the `files` field")
            if len(images) == MAX_FILES:
                raise InvalidInput(f"At most {MAX_FILES} files per upload")
            images.append(await _read_image(part))
    except (ValueError, AssertionError, HttpProcessingError) as exc:
        # aiohttp's multipart reader says "malformed" in all of these (no boundary, a body that
        # is not multipart, a bad part header); none is our bug.
        raise InvalidInput("Malformed multipart/form-data body", details={"files": str(exc)[:200]}) from None
    if not images:
        raise InvalidInput("No files uploaded")
    return images


class UploadedUrls(Shape):
    urls: list[str]


class Uploaded(Envelope[UploadedUrls]):
    """Where each uploaded image is served."""


@routes.route(
    "POST",
    "/api/admin/uploads",
    access=Access.ADMIN,
    summary="Upload product images (field `files`, up to 10)",
    body_limit=50 * MB,
    responses={200: Uploaded},
    errors=(400, 413, 415),
)
async def upload(request: web.Request) -> web.Response:
    images = await read_images(request)  # the whole body is in before the transaction opens
    async with request.app[DATABASE].transaction() as cur:
        actor = current_user(request)
        for image in images:
            await cur.execute(
                "INSERT INTO uploads (stored_name, original_name, content_type, size_bytes, content, uploaded_by)"
                " VALUES (%s, %s, %s, %s, %s, %s)",
                (
                    image.stored_name,
                    image.original_name,
                    image.content_type,
                    len(image.content),
                    psycopg2.Binary(image.content),
                    actor.id,
                ),
            )
        await record_activity(
            cur,
            type="product",
            action="Images Uploaded",
            description=f"{len(images)} image(s) uploaded",
            actor=actor,
            entity_type="upload",
            details={"files": [image.stored_name for image in images]},
        )
    base = public_base(request.app[SETTINGS])
    return ok({"urls": [f"{base}/uploads/{image.stored_name}" for image in images]})


@routes.route(
    "GET",
    "/uploads/{name}",
    access=Access.PUBLIC,
    summary="An uploaded image",
    responses={200: Raw("image/*", "The image"), 304: Raw("image/*", "Not modified (If-None-Match)")},
)
async def serve_upload(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if not STORED_NAME.fullmatch(name):
        raise NotFound("File not found")
    etag = '"' + name.split(".", 1)[0] + '"'  # the random name is the version: an image never changes
    headers = {
        "Content-Type": _TYPE_OF_EXTENSION[name.rsplit(".", 1)[1]],
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": "default-src 'none'",
        "Cache-Control": IMMUTABLE,
        "ETag": etag,
    }
    revalidating = matches(request.headers.get("If-None-Match", ""), etag)
    row = await request.app[DATABASE].fetch_one(
        "SELECT content IS NULL AS on_disk, CASE WHEN NOT %s THEN content END AS content"
        " FROM uploads WHERE stored_name = %s",
        (revalidating, name),
    )
    if row is None:
        raise NotFound("File not found")
    if row["on_disk"]:  # recorded before 0012 and not imported yet (bin/admin import-uploads)
        path = request.app[SETTINGS].uploads_dir / name
        if not path.is_file():
            raise NotFound("File not found")
        return web.FileResponse(path, headers=headers)
    if revalidating:
        return web.Response(status=304, headers=headers)
    return web.Response(body=bytes(row["content"]), headers=headers)
