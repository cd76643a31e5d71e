"""Paged lists (CONTRACTS.md: pagination): ``page`` and ``per_page`` declared once, the page's
``LIMIT/OFFSET`` query and its ``count(*)`` twin run in one place."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any

from pydantic import Field

from jaan.db.pool import Cursor, Row
from jaan.web.input import Query

PageNumber = Annotated[int, Field(ge=1, le=1_000_000)]
PerPage = Annotated[int, Field(ge=1, le=100)]


class Paging(Query):
    """``page`` >= 1 (default 1), ``per_page`` 1-100; a route's query extends this (and may
    change the default page size: ``per_page: PerPage = 12``)."""

    page: PageNumber = 1
    per_page: PerPage = 20

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def result(self, rows: list[Any], total: int) -> dict[str, Any]:
        """The paged answer's ``data``: the rows and where they sit in the whole list."""
        return {
            "data": rows,
            "total": total,
            "page": self.page,
            "per_page": self.per_page,
            "total_pages": math.ceil(total / self.per_page) if total else 0,
        }


# The page's rows carry the total under this name (and lose it before anyone sees them).
_TOTAL = "jaan_page_total"


async def fetch_page(
    cur: Cursor,
    paging: Paging,
    rows_sql: str,
    count_sql: str,
    params: Mapping[str, Any] | Sequence[Any] = (),
) -> tuple[list[Row], int]:
    """One page of `rows_sql` (ordered, without LIMIT) and the total `count_sql` counts.

    One round trip: the count rides in the page's statement as a scalar subquery, which PostgreSQL
    runs once (an InitPlan) beside a page query that still stops after one page of an index (not
    ``count(*) OVER ()``, which would read and sort every matching row). A page past the end has no
    row to carry it, so only then is the count asked alone. Under load a list's rebuild waited for a
    pooled connection's round trip twice; now once, and both figures come from one snapshot.
    `params` serve both: named (a mapping) or positional (a sequence).
    """
    select = rows_sql.lstrip()
    together = select[:7].upper() == "SELECT " and not select[7:].lstrip().upper().startswith(("DISTINCT", "ALL "))
    count_params: Any = (dict(params) if isinstance(params, Mapping) else params) or None
    if isinstance(params, Mapping):
        limit: Any = {"page_limit": paging.per_page, "page_offset": paging.offset}
        page_params: Any = {**params, **limit}
        page_sql = "LIMIT %(page_limit)s OFFSET %(page_offset)s"
    else:
        page_params = (*params, *(params if together else ()), paging.per_page, paging.offset)
        page_sql = "LIMIT %s OFFSET %s"
    if not together:  # a shape the count cannot ride in: two statements
        rows = await cur.fetch_all(f"{rows_sql} {page_sql}", page_params)
        return rows, int(await cur.fetch_value(count_sql, count_params) or 0)
    rows = await cur.fetch_all(f"SELECT ({count_sql}) AS {_TOTAL}, {select[7:]} {page_sql}", page_params)
    if not rows:
        total = 0 if paging.offset == 0 else await cur.fetch_value(count_sql, count_params)
        return rows, int(total or 0)
    total = rows[0][_TOTAL]
    for row in rows:
        del row[_TOTAL]
    return rows, int(total or 0)
