"""Product slugs: derived from the name once, unique, and never regenerated (spec §4.7, §5.11).

A rename keeps the slug, so product URLs stay valid (D-32).  A name whose slug is taken gets
the first free ``-2``, ``-3`` … suffix; archived products keep theirs, so an old URL never
starts pointing at another product.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Container

from jaan.db.pool import Cursor

_NOT_SLUG = re.compile(r"[^a-z0-9]+")
FALLBACK = "product"

_TAKEN_SQL = "SELECT slug FROM products WHERE slug = %(base)s OR slug LIKE %(prefix)s"


def slugify(name: str) -> str:
    """The §4.7 rule: lower case, runs of anything but ``[a-z0-9]`` become ``-``, no edge dashes.

    Accents are folded first ("Café" → "cafe") so such names do not lose letters.
    """
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    return _NOT_SLUG.sub("-", folded.lower()).strip("-") or FALLBACK


def first_free(base: str, taken: Container[str]) -> str:
    """`base` itself when free, else `base-2`, `base-3` … whichever comes first."""
    if base not in taken:
        return base
    n = 2
    while f"{base}-{n}" in taken:
        n += 1
    return f"{base}-{n}"


async def free_slug(cur: Cursor, name: str) -> str:
    """A slug for a new product called `name` that no product (archived ones included) uses yet."""
    base = slugify(name)
    # A slug is [a-z0-9-] only, so the LIKE pattern needs no escaping.
    rows = await cur.fetch_all(_TAKEN_SQL, {"base": base, "prefix": base + "-%"})
    return first_free(base, {row["slug"] for row in rows})
