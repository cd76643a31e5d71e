"""Product images: the admin upload (#6) and serving the files (/uploads/{name}).

Only images whose bytes say JPEG, PNG, WebP or GIF are kept, whatever their name or declared
type claims (an HTML file renamed .png is refused: it would be stored XSS on our origin).
Files are streamed to disk under random names in the data directory, recorded in the
``uploads`` table, and served with the sniffed type, ``nosniff`` and a long cache life.
Links are built from the configured public URL, never from the request's Host header.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from aiohttp import BodyPartReader, web

from jaan.routes import Access, RouteTable
from jaan.settings import Settings
from jaan.shop.accounts.middleware import current_user
from jaan.shop.activity import record_activity
from jaan.state import DATABASE, SETTINGS
from jaan.web.envelope import ok
from jaan.web.errors import InvalidInput, NotFound, UnsupportedMediaType

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
_STORED_NAME = re.compile(r"[0-9a-f]{32}\.(jpg|png|webp|gif)")


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of an image by its first bytes, or None."""
    for magic, offset, content_type, extension in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic and (extension != "webp" or head[:4] == b"RIFF"):
            return content_type, extension
    return None


def public_base(settings: Settings) -> str:
    return (settings.public_url or f"http://{settings.host}:{settings.port}").rstrip("/")


@dataclass
class StoredFile:
    stored_name: str
    original_name: str
    content_type: str
    size: int


async def _store(part: BodyPartReader, directory: Path) -> StoredFile:
    """Stream one multipart file to disk, refusing it unless its bytes are an image."""
    head = await part.read_chunk(CHUNK)
    kind = sniff(head)
    if kind is None:
        raise UnsupportedMediaType(f"{part.filename or 'file'}: only JPEG, PNG, WebP and GIF images can be uploaded")
    content_type, extension = kind
    stored = StoredFile(f"{secrets.token_hex(16)}.{extension}", part.filename or "", content_type, 0)
    loop = asyncio.get_running_loop()
    handle: BinaryIO = await loop.run_in_executor(None, open, directory / stored.stored_name, "xb")
    try:
        chunk = head
        while chunk:
            await loop.run_in_executor(None, handle.write, chunk)
            stored.size += len(chunk)
            chunk = await part.read_chunk(CHUNK)
    finally:
        handle.close()
    return stored


@routes.route(
    "POST",
    "/api/admin/uploads",
    access=Access.ADMIN,
    summary="Upload product images (field `files`, up to 10)",
    body_limit=50 * MB,
)
async def upload(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    directory = settings.uploads_dir
    directory.mkdir(parents=True, exist_ok=True)
    if not request.content_type.startswith("multipart/"):
        raise UnsupportedMediaType("Expected multipart/form-data with a `files` field")
    stored: list[StoredFile] = []
    try:
        reader = await request.multipart()
        async for part in reader:
            if not isinstance(part, BodyPartReader) or part.name != "files":
                raise InvalidInput("Unexpected form field: send images in the `files` field")
            if len(stored) == MAX_FILES:
                raise InvalidInput(f"At most {MAX_FILES} files per upload")
            stored.append(await _store(part, directory))
        if not stored:
            raise InvalidInput("No files uploaded")
        async with request.app[DATABASE].transaction() as cur:
            actor = current_user(request)
            for item in stored:
                await cur.execute(
                    "INSERT INTO uploads (stored_name, original_name, content_type, size_bytes, uploaded_by)"
                    " VALUES (%s, %s, %s, %s, %s)",
                    (item.stored_name, item.original_name[:255], item.content_type, item.size, actor.id),
                )
            await record_activity(
                cur,
                type="product",
                action="Images Uploaded",
                description=f"{len(stored)} image(s) uploaded",
                actor=actor,
                entity_type="upload",
                details={"files": [s.stored_name for s in stored]},
            )
    except BaseException:
        for item in stored:  # all or nothing: no orphans from a refused or failed upload
            with contextlib.suppress(FileNotFoundError):
                (directory / item.stored_name).unlink()
        raise
    base = public_base(settings)
    return ok({"urls": [f"{base}/uploads/{item.stored_name}" for item in stored]})


@routes.route("GET", "/uploads/{name}", access=Access.PUBLIC, summary="An uploaded image")
async def serve_upload(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    path = request.app[SETTINGS].uploads_dir / name
    if not _STORED_NAME.fullmatch(name) or not path.is_file():
        raise NotFound("File not found")
    return web.FileResponse(
        path,
        headers={
            "Content-Type": _TYPE_OF_EXTENSION[name.rsplit(".", 1)[1]],
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'",
            # Names are random and files never change: cache for good.
            "Cache-Control": "public, max-age=31536000, immutable",
        },
    )
