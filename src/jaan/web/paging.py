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


async def fetch_page(
    cur: Cursor,
    paging: Paging,
    rows_sql: str,
    count_sql: str,
    params: Mapping[str, Any] | Sequence[Any] = (),
) -> tuple[list[Row], int]:
    """One page of `rows_sql` (ordered, without LIMIT) and the total `count_sql` counts.

    Two statements on purpose: ``count(*) OVER ()`` would make the page query read and sort every
    matching row instead of stopping after one page of an index.  `params` serve both: named
    (a mapping) or positional (a sequence).
    """
    if isinstance(params, Mapping):
        page_sql = f"{rows_sql} LIMIT %(page_limit)s OFFSET %(page_offset)s"
        page_params: Any = {**params, "page_limit": paging.per_page, "page_offset": paging.offset}
    else:
        page_sql = f"{rows_sql} LIMIT %s OFFSET %s"
        page_params = (*params, paging.per_page, paging.offset)
    rows = await cur.fetch_all(page_sql, page_params)
    total = await cur.fetch_value(count_sql, (dict(params) if isinstance(params, Mapping) else params) or None)
    return rows, int(total or 0)
