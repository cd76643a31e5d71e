"""Keeping the uploads table to the images the shop shows, and moving pre-0012 files into it.

An upload nobody refers to is removed a day after it was made (an admin uploads first and saves
the product after); so are the images of products archived for a month (long enough to restore
one by mistake).  A name counts as referred to when a live product's ``images`` or a category's
``image`` ends with it, whatever base URL the link was made with.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import psycopg2

from jaan.db.pool import Cursor
from jaan.periodic import PeriodicJob

log = logging.getLogger(__name__)

UNUSED_UPLOAD_KEPT = timedelta(days=1)
ARCHIVED_PRODUCT_IMAGES_KEPT = timedelta(days=30)
_NAME_IN_LINK = r"([0-9a-f]{32}\.(?:jpg|png|webp|gif))$"


async def remove_unused_uploads(cur: Cursor) -> int:
    """Delete the uploads no live product or category shows; the number removed."""
    await cur.execute(
        """
        WITH shown AS (
            SELECT substring(link FROM %(name)s) AS stored_name
            FROM products, unnest(images) AS link
            WHERE archived_at IS NULL OR archived_at > now() - %(archived_kept)s
            UNION
            SELECT substring(image FROM %(name)s) FROM categories WHERE image IS NOT NULL
        )
        DELETE FROM uploads u
        WHERE u.created_at < now() - %(unused_kept)s
          AND NOT EXISTS (SELECT 1 FROM shown WHERE shown.stored_name = u.stored_name)
        """,
        {"name": _NAME_IN_LINK, "archived_kept": ARCHIVED_PRODUCT_IMAGES_KEPT, "unused_kept": UNUSED_UPLOAD_KEPT},
    )
    if cur.rowcount:
        log.info("removed %d unused uploads", cur.rowcount)
    return cur.rowcount


UNUSED_UPLOADS_JOB = PeriodicJob("remove unused uploads", 3600.0, remove_unused_uploads)


def import_files(dsn: str, directory: Path) -> tuple[int, int]:
    """Copy each recorded upload still on disk into its row, then delete the file.

    One row per transaction, so a run stopped half-way resumes where it was.  Returns (files
    imported, recorded uploads whose file is missing).  Files nobody recorded are left alone.
    """
    imported = missing = 0
    with psycopg2.connect(dsn) as conn:
        with conn.cursor() as cur:
            cur.execute("SELECT stored_name FROM uploads WHERE content IS NULL ORDER BY created_at")
            pending = cur.fetchall()
        conn.commit()
        for (stored_name,) in pending:
            path = directory / stored_name
            try:
                content = path.read_bytes()
            except FileNotFoundError:
                missing += 1
                log.warning("upload %s has no file in %s", stored_name, directory)
                continue
            with conn.cursor() as cur:
                cur.execute(
                    "UPDATE uploads SET content = %s, size_bytes = %s WHERE stored_name = %s AND content IS NULL",
                    (psycopg2.Binary(content), len(content), stored_name),
                )
            conn.commit()
            path.unlink()  # only once the row holds the bytes
            imported += 1
    conn.close()
    return imported, missing
