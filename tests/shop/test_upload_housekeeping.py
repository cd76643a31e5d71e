"""Unused uploads and archived products' images are removed; pre-0012 files move into the database."""

from __future__ import annotations

import secrets
from contextlib import closing

import psycopg2

from jaan.cli.admin import main as admin_main
from jaan.db.pool import Database, PoolConfig
from jaan.periodic import run_once
from jaan.shop.upload_housekeeping import UNUSED_UPLOADS_JOB
from tests.shop.test_uploads import png_bytes


def query(dsn, sql, params=None):
    with closing(psycopg2.connect(dsn)) as conn, conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall() if cur.description else None


def upload(dsn, age: str, content: bytes | None = b"\x89PNG\r\n\x1a\n....") -> str:
    name = secrets.token_hex(16) + ".png"
    query(
        dsn,
        "INSERT INTO uploads (stored_name, original_name, content_type, size_bytes, content, created_at)"
        " VALUES (%s, 'a.png', 'image/png', %s, %s, now() - %s::interval)",
        (name, len(content or b"x" * 12), content, age),
    )
    return name


def product(dsn, images: list[str], archived: str | None = None) -> None:
    tag = secrets.token_hex(6)
    query(
        dsn,
        "INSERT INTO products (name, slug, sku, price, unit, images, archived_at)"
        " VALUES (%s, %s, %s, 1, 'kg', %s, now() - %s::interval)",
        (f"P {tag}", f"p-{tag}", f"SKU-{tag}", images, archived),
    )


async def test_the_job_removes_unused_uploads_and_archived_products_images(probe_database):
    shown = upload(probe_database, "3 days")
    fresh = upload(probe_database, "1 hour")  # its product is not saved yet
    unused = upload(probe_database, "3 days")
    long_archived = upload(probe_database, "90 days")
    lately_archived = upload(probe_database, "90 days")
    category = upload(probe_database, "90 days")
    product(probe_database, [f"https://cdn.example/uploads/{shown}"])
    product(probe_database, [f"http://127.0.0.1:3001/uploads/{long_archived}"], archived="40 days")
    product(probe_database, [f"/uploads/{lately_archived}"], archived="2 days")
    first = query(probe_database, "SELECT id, image FROM categories ORDER BY id LIMIT 1")[0]
    query(probe_database, "UPDATE categories SET image = %s WHERE id = %s", (f"/uploads/{category}", first[0]))
    database = Database(PoolConfig(probe_database, min_size=1, max_size=1))
    await database.open()
    try:
        assert await run_once(database, UNUSED_UPLOADS_JOB)
    finally:
        await database.close()
        query(probe_database, "UPDATE categories SET image = %s WHERE id = %s", (first[1], first[0]))
    mine = [shown, fresh, unused, long_archived, lately_archived, category]
    left = {
        name
        for (name,) in query(probe_database, "SELECT stored_name FROM uploads WHERE stored_name = ANY(%s)", (mine,))
    }
    assert left == {shown, fresh, lately_archived, category}


def test_import_uploads_moves_files_into_the_database(probe_database, tmp_path, monkeypatch, capsys):
    on_disk = upload(probe_database, "1 hour", content=None)
    lost = upload(probe_database, "1 hour", content=None)
    (tmp_path / "uploads").mkdir()
    (tmp_path / "uploads" / on_disk).write_bytes(png_bytes(8))
    monkeypatch.setenv("DATABASE_URL", probe_database)
    assert admin_main(["import-uploads", "--data-dir", str(tmp_path)]) == 0
    assert "imported 1 upload(s)" in capsys.readouterr().out
    rows = dict(
        query(probe_database, "SELECT stored_name, content FROM uploads WHERE stored_name IN (%s, %s)", (on_disk, lost))
    )
    assert bytes(rows[on_disk]) == png_bytes(8) and rows[lost] is None
    assert not (tmp_path / "uploads" / on_disk).exists()
    query(probe_database, "DELETE FROM uploads WHERE stored_name = %s", (lost,))


async def test_a_file_not_imported_yet_is_still_served_from_disk(make_client, probe_database, data_dir):
    name = upload(probe_database, "1 hour", content=None)
    (data_dir / "uploads").mkdir(exist_ok=True)
    (data_dir / "uploads" / name).write_bytes(png_bytes(8))
    client = await make_client()
    served = await client.get(f"/uploads/{name}")
    assert served.status == 200 and await served.read() == png_bytes(8)
