"""The one place request bodies and query strings are parsed and checked.

A route declares a schema (a dict of field name -> :class:`Field`); :func:`parse_body` and
:func:`parse_query` return clean values or raise :class:`InvalidInput` whose ``details``
name every bad field at once.  Nothing reaches the database unchecked: numbers are finite,
money has at most two decimals, quantities are whole, strings are bounded.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, ClassVar

from aiohttp import web

from jaan.web.errors import InvalidInput, NotFound, UnsupportedMediaType

_MISSING: Any = object()


class FieldError(ValueError):
    pass


class Field:
    """A value of one type; ``required`` unless a default is given."""

    def __init__(self, *, required: bool = True, default: Any = _MISSING, nullable: bool = False) -> None:
        self.required = required and default is _MISSING
        self.default = default
        self.nullable = nullable

    def parse(self, value: Any, from_text: bool) -> Any:
        raise NotImplementedError

    def json_schema(self) -> dict[str, Any]:
        """This field in the OpenAPI document."""
        raise NotImplementedError

    def _with_null(self, schema: dict[str, Any]) -> dict[str, Any]:
        if self.nullable:
            schema["type"] = [schema["type"], "null"]
        if self.default is not _MISSING and self.default is not None:
            schema["default"] = self.default if not isinstance(self.default, Decimal) else float(self.default)
        return schema


class String(Field):
    def __init__(self, *, min_length: int = 0, max_length: int = 1000, pattern: str | None = None, **kw: Any) -> None:
        super().__init__(**kw)
        self.min_length, self.max_length = min_length, max_length
        self.pattern = re.compile(pattern) if pattern else None

    def parse(self, value: Any, from_text: bool) -> str:
        if not isinstance(value, str):
            raise FieldError("must be a string")
        text = value.strip()
        if len(text) < self.min_length:
            if self.min_length == 1:
                raise FieldError("is required")
            raise FieldError(f"must be at least {self.min_length} characters")
        if len(text) > self.max_length:
            raise FieldError(f"must be at most {self.max_length} characters")
        if self.pattern and not self.pattern.fullmatch(text):
            raise FieldError("has an invalid format")
        return text

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.min_length:
            schema["minLength"] = self.min_length
        if self.pattern:
            schema["pattern"] = self.pattern.pattern
        return self._with_null(schema)


class Email(String):
    def __init__(self, **kw: Any) -> None:
        super().__init__(min_length=3, max_length=254, pattern=r"[^@\s]+@[^@\s]+\.[^@\s]+", **kw)

    def parse(self, value: Any, from_text: bool) -> str:
        try:
            return str(super().parse(value, from_text)).lower()
        except FieldError:
            raise FieldError("must be a valid email address") from None


class Integer(Field):
    def __init__(self, *, minimum: int | None = None, maximum: int | None = 2**31 - 1, **kw: Any) -> None:
        super().__init__(**kw)
        self.minimum, self.maximum = minimum, maximum

    def parse(self, value: Any, from_text: bool) -> int:
        if from_text and isinstance(value, str) and re.fullmatch(r"-?\d{1,18}", value.strip()):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise FieldError("must be a whole number")
        if self.minimum is not None and value < self.minimum:
            raise FieldError(f"must be at least {self.minimum}")
        if self.maximum is not None and value > self.maximum:
            raise FieldError(f"must be at most {self.maximum}")
        return value

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "integer"}
        if self.minimum is not None:
            schema["minimum"] = self.minimum
        if self.maximum is not None:
            schema["maximum"] = self.maximum
        return self._with_null(schema)


class Decimal_(Field):
    """A finite decimal number (rates, weights); see :class:`Money` for amounts."""

    places: int | None = None

    def __init__(self, *, minimum: Decimal | int | None = 0, maximum: Decimal | int = 10**9, **kw: Any) -> None:
        super().__init__(**kw)
        self.minimum = None if minimum is None else Decimal(minimum)
        self.maximum = Decimal(maximum)

    def parse(self, value: Any, from_text: bool) -> Decimal:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise FieldError("must be a number")
        if isinstance(value, float) and not math.isfinite(value):
            raise FieldError("must be a finite number")
        try:
            number = Decimal(str(value).strip())
        except InvalidOperation:
            raise FieldError("must be a number") from None
        if not number.is_finite():
            raise FieldError("must be a finite number")
        if self.places is not None and number != number.quantize(Decimal(1).scaleb(-self.places)):
            raise FieldError(f"must have at most {self.places} decimals")
        if self.minimum is not None and number < self.minimum:
            raise FieldError(f"must be at least {self.minimum}")
        if number > self.maximum:
            raise FieldError(f"must be at most {self.maximum}")
        return number

    def json_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"type": "number", "maximum": float(self.maximum)}
        if self.minimum is not None:
            schema["minimum"] = float(self.minimum)
        if self.places is not None:
            schema["multipleOf"] = float(Decimal(1).scaleb(-self.places))
        return self._with_null(schema)


class Money(Decimal_):
    places = 2


class Boolean(Field):
    _TEXT: ClassVar[dict[str, bool]] = {
        "true": True,
        "1": True,
        "yes": True,
        "false": False,
        "0": False,
        "no": False,
    }

    def parse(self, value: Any, from_text: bool) -> bool:
        if from_text and isinstance(value, str) and value.lower() in self._TEXT:
            return self._TEXT[value.lower()]
        if not isinstance(value, bool):
            raise FieldError("must be true or false")
        return value

    def json_schema(self) -> dict[str, Any]:
        return self._with_null({"type": "boolean"})


class Choice(Field):
    def __init__(self, choices: Sequence[str], **kw: Any) -> None:
        super().__init__(**kw)
        self.choices = tuple(choices)

    def parse(self, value: Any, from_text: bool) -> str:
        if value not in self.choices:
            raise FieldError(f"must be one of: {', '.join(self.choices)}")
        return str(value)

    def json_schema(self) -> dict[str, Any]:
        return self._with_null({"type": "string", "enum": list(self.choices)})


class Date(Field):
    """A calendar date, ``YYYY-MM-DD``."""

    def parse(self, value: Any, from_text: bool) -> dt.date:
        if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()):
            raise FieldError("must be a date (YYYY-MM-DD)")
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise FieldError("must be a real date") from None

    def json_schema(self) -> dict[str, Any]:
        return self._with_null({"type": "string", "format": "date"})


class Uuid(Field):
    def parse(self, value: Any, from_text: bool) -> uuid.UUID:
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise FieldError("must be a UUID") from None

    def json_schema(self) -> dict[str, Any]:
        return self._with_null({"type": "string", "format": "uuid"})


class ListOf(Field):
    def __init__(self, item: Field, *, min_items: int = 0, max_items: int = 100, **kw: Any) -> None:
        super().__init__(**kw)
        self.item, self.min_items, self.max_items = item, min_items, max_items

    def parse(self, value: Any, from_text: bool) -> list[Any]:
        if not isinstance(value, list):
            raise FieldError("must be a list")
        if not self.min_items <= len(value) <= self.max_items:
            raise FieldError(f"must have between {self.min_items} and {self.max_items} items")
        parsed = []
        for index, item in enumerate(value):
            try:
                parsed.append(self.item.parse(item, from_text))
            except FieldError as exc:
                raise FieldError(f"item {index + 1} {exc}") from None
        return parsed

    def json_schema(self) -> dict[str, Any]:
        schema = {"type": "array", "items": self.item.json_schema(), "maxItems": self.max_items}
        if self.min_items:
            schema["minItems"] = self.min_items
        return self._with_null(schema)


class Object(Field):
    def __init__(self, schema: Mapping[str, Field], **kw: Any) -> None:
        super().__init__(**kw)
        self.schema = schema

    def parse(self, value: Any, from_text: bool) -> dict[str, Any]:
        try:
            return validate(self.schema, value)
        except InvalidInput as exc:
            raise FieldError("; ".join(f"{k} {v}" for k, v in (exc.details or {}).items())) from None

    def json_schema(self) -> dict[str, Any]:
        return self._with_null(object_schema(self.schema))


class Mapping_(Field):
    """A free-form JSON object (variant attributes and the like)."""

    def parse(self, value: Any, from_text: bool) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise FieldError("must be an object")
        return value

    def json_schema(self) -> dict[str, Any]:
        return self._with_null({"type": "object"})


def object_schema(schema: Mapping[str, Field]) -> dict[str, Any]:
    """The JSON Schema of a body schema, for the OpenAPI document."""
    return {
        "type": "object",
        "properties": {name: field.json_schema() for name, field in schema.items()},
        "required": [name for name, field in schema.items() if field.required],
    }


def validate(
    schema: Mapping[str, Field],
    data: Any,
    *,
    partial: bool = False,
    from_text: bool = False,
) -> dict[str, Any]:
    """Check `data` against `schema`. With ``partial`` (PATCH), absent fields stay absent."""
    if not isinstance(data, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    clean: dict[str, Any] = {}
    details: dict[str, str] = {}
    for name, field in schema.items():
        if name not in data or (from_text and data[name] == ""):
            if partial:
                continue
            if field.required:
                details[name] = "is required"
            elif field.default is not _MISSING:
                clean[name] = field.default
            continue
        value = data[name]
        if value is None:
            if field.nullable:
                clean[name] = None
            else:
                details[name] = "must not be null"
            continue
        try:
            clean[name] = field.parse(value, from_text)
        except FieldError as exc:
            details[name] = str(exc)
    if details:
        raise InvalidInput("Invalid input", details=details)
    return clean


async def read_json(request: web.Request) -> Any:
    """The request's JSON body: 415 for another media type, 400 for malformed JSON."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Expected a JSON body (Content-Type: application/json)")
    raw = await request.read()
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, UnicodeDecodeError):
        raise InvalidInput("Malformed JSON body") from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


async def parse_body(request: web.Request, schema: Mapping[str, Field], *, partial: bool = False) -> dict[str, Any]:
    return validate(schema, await read_json(request), partial=partial)


def parse_query(request: web.Request, schema: Mapping[str, Field]) -> dict[str, Any]:
    return validate(schema, request.query, from_text=True)


@dataclass(frozen=True)
class Page:
    """Pagination of CONTRACTS.md: page >= 1, per_page 1..100."""

    page: int
    per_page: int

    @property
    def offset(self) -> int:
        return (self.page - 1) * self.per_page

    def result(self, rows: list[Any], total: int) -> dict[str, Any]:
        return {
            "data": rows,
            "total": total,
            "page": self.page,
            "per_page": self.per_page,
            "total_pages": math.ceil(total / self.per_page) if total else 0,
        }


def page_of(request: web.Request, default_per_page: int = 20) -> Page:
    values = parse_query(
        request,
        {
            "page": Integer(minimum=1, maximum=1_000_000, default=1),
            "per_page": Integer(minimum=1, maximum=100, default=default_per_page),
        },
    )
    return Page(values["page"], values["per_page"])


_MAX_ID = 2**31 - 1


def id_from_path(request: web.Request, not_found: str, name: str = "id") -> int:
    """A whole-number id from the path; anything else names nothing, so 404 (never a 500)."""
    text = request.match_info[name]
    if not (text.isascii() and text.isdigit() and len(text) <= 10 and 0 < int(text) <= _MAX_ID):
        raise NotFound(not_found)
    return int(text)


def uuid_from_path(request: web.Request, not_found: str, name: str = "id") -> uuid.UUID:
    """A UUID from the path; anything else names nothing, so 404."""
    try:
        return uuid.UUID(request.match_info[name])
    except ValueError:
        raise NotFound(not_found) from None
