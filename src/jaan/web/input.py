"""The input boundary: how a request's path, query and JSON body become a route's typed input.

The route registry calls these before a handler runs (a handler receives the parsed models, so
it cannot forget to validate).  What every route gets, whatever it declares:

- **Text**: a NUL character or a lone surrogate anywhere (a path parameter, a query value, any
  string or key of a JSON body) is a 400 naming the field: PostgreSQL cannot store either.
- **JSON**: UTF-8 only (else 400), ``application/json`` only (else 415), nested at most 1,024
  levels (orjson's own limit; deeper is a 400, never a RecursionError).
- **Query**: a parameter may appear once (``?page=1&page=2`` is a 400) and its value must match
  its schema, so an empty value is a 400 for numbers, dates, booleans and choices and means
  "any" only for free-text filters, whose schema allows the empty string.
- **Errors**: every invalid field at once, ``{"details": {field: message}}`` (CONTRACTS.md), with
  messages in the shop's words.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from typing import Any, ClassVar, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator
from pydantic.alias_generators import to_camel

from jaan.web.errors import InvalidInput, NotFound, UnsupportedMediaType

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    """A JSON body: JSON's own types only (``"5"`` is not a number here), unknown keys ignored."""

    model_config = ConfigDict(strict=True, extra="ignore")

    @classmethod
    def invalid(cls, details: dict[str, str]) -> str:
        """The 400's message for these details (a route may keep the spec's wording)."""
        return "Invalid input"


class FormBody(Body):
    """A body from the admin forms: camelCase keys for snake_case fields (the one form mapping:
    ``model_dump()`` gives the column names).

    The old admin forms send ``""`` for an empty input and ``0`` for an unset number; the original
    stored both as NULL, and so do we for the fields a form names in `blanks` and `zeros` (by
    their camelCase key).  Their documented types allow those values.
    """

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=False)
    blanks: ClassVar[tuple[str, ...]] = ()
    zeros: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode="before")
    @classmethod
    def _nothing_is_null(cls, data: Any) -> Any:
        if not isinstance(data, dict) or not (cls.blanks or cls.zeros):
            return data
        clean = dict(data)
        for key in cls.blanks:
            if isinstance(clean.get(key), str) and not clean[key].strip():
                clean[key] = None
        for key in cls.zeros:
            value = clean.get(key)
            if not isinstance(value, bool) and value in (0, "0", ""):
                clean[key] = None
        return clean


B = TypeVar("B", bound=Body)


def partial(model: type[B], name: str) -> type[B]:
    """`model` for an edit that changes only the fields sent: every field optional, none defaulted.

    ``model_dump(exclude_unset=True)`` is then exactly what the client sent; an explicit null is
    still refused where the full model refuses it.
    """
    fields: dict[str, Any] = {
        field: (info.rebuild_annotation(), Field(default=None, alias=info.alias))
        for field, info in model.model_fields.items()
    }
    doc = f"Partial update: only the fields sent change (every field is optional). {model.__doc__ or ''}".strip()
    return create_model(name, __base__=model, __doc__=doc, **fields)


class Query(BaseModel):
    """A query string: text turned into numbers, booleans and dates; unknown parameters ignored."""

    model_config = ConfigDict(extra="ignore")


# -- text ---------------------------------------------------------------------------------------

_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
BAD_TEXT = "must not contain NUL characters or invalid Unicode"


def bad_text(value: str) -> bool:
    """Whether PostgreSQL would refuse this text: a NUL, or a lone surrogate (not valid UTF-8)."""
    return _BAD_TEXT.search(value) is not None


def _has_bad_text(value: Any) -> bool:
    if isinstance(value, str):
        return bad_text(value)
    if isinstance(value, dict):
        return any(bad_text(key) or _has_bad_text(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_bad_text(item) for item in value)
    return False


def _refuse_bad_text(data: Any) -> None:
    """400 naming each top-level field holding bad text, however deep."""
    if isinstance(data, dict):
        details = {
            key if not bad_text(key) else "body": BAD_TEXT
            for key, value in data.items()
            if _has_bad_text(value) or bad_text(key)
        }
    else:
        details = {"body": BAD_TEXT} if _has_bad_text(data) else {}
    if details:
        raise InvalidInput("Invalid input", details=_printable(details))


def _printable(details: dict[str, str]) -> dict[str, str]:
    """Field names as the client can read them back (a bad name itself is shown escaped)."""
    return {
        (key if not bad_text(key) else key.encode("utf-8", "backslashreplace").decode()): v
        for key, v in details.items()
    }


# -- reading -------------------------------------------------------------------------------------


async def read_json(request: web.Request) -> Any:
    """The request's JSON body: 415 for another media type, 400 for malformed, deep or bad text."""
    if request.content_type != "application/json":
        raise UnsupportedMediaType("Expected a JSON body (Content-Type: application/json)")
    raw = await request.read()
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        data = _lone_surrogates_or_malformed(raw, str(exc))
    else:
        # orjson refused raw NULs and surrogates already; an escaped NUL is the one left to find.
        if b"\\u0000" not in raw:
            return data
    _refuse_bad_text(data)
    return data


def _lone_surrogates_or_malformed(raw: bytes, reason: str) -> Any:
    """orjson refuses a lone surrogate escape as malformed JSON; say which field holds it instead."""
    if "surrogate" not in reason or "depth" in reason:
        raise InvalidInput("Malformed JSON body") from None
    try:
        text = raw.decode("utf-8")
        # Only well-formed UTF-8 with escaped surrogates gets here; orjson already bounded the depth
        # up to the surrogate, and the standard parser's RecursionError covers the rest.
        return json.loads(text, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise InvalidInput("Malformed JSON body") from None


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse(model: type[M], data: Any, *, context: Mapping[str, Any] | None = None) -> M:
    """`data` as `model`, or a 400 whose details name every invalid field."""
    if not isinstance(data, Mapping):
        raise InvalidInput("Request body must be a JSON object")
    try:
        return model.model_validate(data, context=dict(context) if context else None)
    except ValidationError as exc:
        details = details_of(exc)
        message = model.invalid(details) if issubclass(model, Body) else "Invalid input"
        raise InvalidInput(message, details=details) from None


async def parse_body(request: web.Request, model: type[M], *, context: Mapping[str, Any] | None = None) -> M:
    return parse(model, await read_json(request), context=context)


# (model, raw query string) -> the model it parsed into, most recently used last.  A storefront
# asks the same few query strings over and over (the first page of the products, a category):
# parsing one with pydantic costs more than the cached answer it leads to.  A query model is a
# pure function of its string (no context, no clock), and handlers only read it.
_PARSED_QUERIES: dict[tuple[type[BaseModel], str], BaseModel] = {}
PARSED_QUERIES_KEPT = 512


def parse_query(request: web.Request, model: type[M]) -> M:
    """The query string as `model`: each parameter once, no bad text."""
    key = (model, request.rel_url.raw_query_string)  # raw: decoded, "a=1%26b=2" would read as two
    parsed = _PARSED_QUERIES.pop(key, None)
    if parsed is None:
        parsed = _parse_query(request, model)
        if len(_PARSED_QUERIES) >= PARSED_QUERIES_KEPT:
            del _PARSED_QUERIES[next(iter(_PARSED_QUERIES))]  # the least recently used
    _PARSED_QUERIES[key] = parsed
    return parsed  # type: ignore[return-value]  # keyed by its model


def _parse_query(request: web.Request, model: type[M]) -> M:
    query = request.query
    values = dict(query)
    # The storefront's hot path: one C-level check each for repeats and bad text, details only on failure.
    if len(values) != len(query) or bad_text("".join(values) + "".join(values.values())):
        details: dict[str, str] = {}
        seen: set[str] = set()
        for name, value in query.items():
            if name in seen:
                details[name] = "must be given once"
            elif bad_text(name) or bad_text(value):
                details[name] = BAD_TEXT
            seen.add(name)
        raise InvalidInput("Invalid input", details=_printable(details))
    return parse(model, values)


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


def check_path(request: web.Request) -> None:
    """400 for a path parameter PostgreSQL could not hold (a NUL, a lone surrogate)."""
    details = {name: BAD_TEXT for name, value in request.match_info.items() if bad_text(value)}
    if details:
        raise InvalidInput("Invalid input", details=details)


# -- the 400's details ---------------------------------------------------------------------------

_MESSAGES = {
    "missing": "is required",
    "string_type": "must be a string",
    "string_too_long": "must be at most {max_length} characters",
    "string_pattern_mismatch": "has an invalid format",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "less_than_equal": "must be at most {le}",
    "less_than": "must be less than {lt}",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
    "decimal_max_places": "must have at most {decimal_places} decimals",
    "list_type": "must be a list",
    "too_short": "must have at least {min_length} items",
    "too_long": "must have at most {max_length} items",
    "dict_type": "must be an object",
    "model_type": "must be an object",
    "model_attributes_type": "must be an object",
    "extra_forbidden": "is not allowed",
}


def message_of(error: Any) -> str:
    """One pydantic error in the shop's words."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if error.get("input", "") is None and kind not in ("missing",):
        return "must not be null"
    if kind == "string_too_short":
        return "is required" if ctx.get("min_length") == 1 else f"must be at least {ctx.get('min_length')} characters"
    if kind in ("literal_error", "enum"):
        return "must be one of: " + str(ctx.get("expected", "")).replace("'", "").replace(" or ", ", ")
    template = _MESSAGES.get(kind)
    if template is None:
        return str(error["msg"])
    return template.format(**{key: _plain(value) for key, value in ctx.items()})


def _plain(value: Any) -> str:
    """``Decimal('9999999999.99')`` as the client would write it."""
    text = str(value)
    return text.removeprefix("Decimal('").removesuffix("')")


def _where(rest: tuple[Any, ...]) -> str:
    return " ".join(f"item {part + 1}" if isinstance(part, int) else str(part) for part in rest)


def details_of(exc: ValidationError) -> dict[str, str]:
    """One message per invalid top-level field (a nested one says where inside it)."""
    details: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if not loc:
            raise InvalidInput("Request body must be a JSON object") from None
        field, rest = str(loc[0]), tuple(loc[1:])
        # A union (``X | None``) reports its member's name in the location: not the client's words.
        rest = tuple(part for part in rest if not (isinstance(part, str) and ("[" in part or part in _TYPE_NAMES)))
        message = message_of(error)
        details.setdefault(field, f"{_where(rest)} {message}".strip() if rest else message)
    return details


_TYPE_NAMES = {
    "str",
    "int",
    "bool",
    "float",
    "decimal",
    "date",
    "list",
    "dict",
    "none",
    "function-after",
    "function-before",
}
