"""The shapes every answer shares, as models the OpenAPI document describes answers with.

The JSON itself is written by :mod:`jaan.web.envelope` (orjson, Decimal money, ``Z`` times); these
models only declare what it looks like, so a client (and the test suite) can check an answer.
Entity models allow keys they do not list: adding a key is never a breaking change (CONTRACTS.md).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")


class Shape(BaseModel):
    """An answer's object: the keys listed are always there; more may follow."""

    model_config = ConfigDict(extra="allow")


class Envelope(Shape, Generic[T]):
    """``{"success": true, "data": ...}``."""

    success: Literal[True]
    data: T


class Done(Shape):
    """``{"success": true}`` with nothing more to say."""

    success: Literal[True]


class Page(Shape, Generic[T]):
    """One page of a list (CONTRACTS.md: pagination)."""

    data: list[T]
    total: int
    page: int
    per_page: int
    total_pages: int


class Failure(Shape):
    """``{"success": false, "error": "..."}``; ``details`` names each invalid field."""

    success: Literal[False]
    error: str
    details: dict[str, str] | None = None
    request_id: str | None = None


class Message(Shape):
    message: str


Timestamp = dt.datetime
JSONObject = dict[str, Any]


class AnyObject(Shape):
    """A JSON object whose keys this document does not list."""
