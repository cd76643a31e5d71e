"""Small pieces of SQL text shared by the shop areas."""

from __future__ import annotations

from collections.abc import Iterable, Mapping


def escape_like(term: str) -> str:
    """A search term taken literally inside LIKE/ILIKE (the default escape character is backslash)."""
    return term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def insert_sql(
    table: str, columns: Iterable[str], returning: str = "*", *, computed: Mapping[str, str] | None = None
) -> str:
    """``INSERT INTO table (a, b) VALUES (%(a)s, %(b)s) RETURNING ...`` for named parameters,
    plus `computed` columns given as SQL expressions.

    Column names come from our own models (never from the client), so they are safe to splice.
    """
    values = {**(computed or {}), **{name: f"%({name})s" for name in columns}}
    return f"INSERT INTO {table} ({', '.join(values)}) VALUES ({', '.join(values.values())}) RETURNING {returning}"


def assignments(columns: Iterable[str]) -> str:
    """``a = %(a)s, b = %(b)s``: the SET list of a partial update (only the fields sent)."""
    return ", ".join(f"{name} = %({name})s" for name in columns)
