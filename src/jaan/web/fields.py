"""The field types routes declare their input with, each bounded by the column it lands in.

A route's query, body and answers are pydantic models built from these (see :mod:`jaan.web.input`);
the checks, the 400 details and the OpenAPI document all come from the same model.  Bounds follow
the migrations: ``integer`` columns hold 2**31 - 1, ``numeric(12, 2)`` money below 10**10,
``numeric(12, 3)`` weights, ``numeric(5, 2)`` percentages.  Numbers are checked against them before
anything does arithmetic with them, so ``1e27`` is a 400, never an overflow.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from jaan.web.errors import InvalidInput

MAX_INT = 2**31 - 1  # PostgreSQL integer
MAX_MONEY = Decimal("9999999999.99")  # numeric(12, 2)
MAX_WEIGHT = Decimal("999999999.999")  # numeric(12, 3)
MAX_PERCENT = Decimal("100")  # numeric(5, 2) holds 999.99; a share is at most 100 %
MAX_RATE = Decimal("1")  # a tax rate is a fraction of the price

# The dates the shop deals in: invoices, expiries, report ranges.  Outside this a date is a typo,
# and far outside it date arithmetic overflows (year 1 minus a day).
FIRST_DATE = dt.date(1900, 1, 1)
LAST_DATE = dt.date(2999, 12, 31)


def Text(min_length: int = 0, max_length: int = 1000, pattern: str | None = None) -> StringConstraints:
    """Trimmed text within these lengths (a minimum of 1 after trimming reads "is required")."""
    return StringConstraints(strip_whitespace=True, min_length=min_length, max_length=max_length, pattern=pattern)


_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")


def _email(value: str) -> str:
    if not (3 <= len(value) <= 254 and _EMAIL.fullmatch(value)):
        raise PydanticCustomError("email", "must be a valid email address")
    return value.lower()


Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "minLength": 3, "maxLength": 254}),
]


_DECIMAL_TEXT = re.compile(r"\s*[+-]?\d+(\.\d+)?\s*")


def _decimal(value: Any) -> Any:
    """A JSON number or a decimal string as a Decimal; anything else is not a number."""
    kind = type(value)
    if kind is not str and kind is not int and kind is not float and kind is not Decimal:
        raise PydanticCustomError("number", "must be a number")
    if kind is str and not _DECIMAL_TEXT.fullmatch(value):
        raise PydanticCustomError("number", "must be a number")  # no exponents, no "Infinity": as documented
    try:
        number = value if kind is Decimal else Decimal(value.strip() if kind is str else str(value))
    except InvalidOperation:
        raise PydanticCustomError("number", "must be a number") from None
    if not number.is_finite():
        raise PydanticCustomError("number", "must be a finite number")
    return number


def _number_schema(minimum: Decimal, maximum: Decimal, places: int, *, exclusive: bool = False) -> dict[str, Any]:
    """A JSON number (or the same as a decimal string, as the admin forms send)."""
    low = "exclusiveMinimum" if exclusive else "minimum"
    # No multipleOf: binary floats make "0.07 is a multiple of 0.01" false for JSON Schema checkers.
    number = {"type": "number", low: float(minimum), "maximum": float(maximum)}
    digits = len(str(int(maximum)))
    text = {"type": "string", "pattern": rf"^\s*\d{{1,{digits}}}(\.\d{{1,{places}}})?\s*$"}
    return {"anyOf": [number, text], "description": f"at most {places} decimals"}


def _money_like(maximum: Decimal, places: int, *, positive: bool = False) -> tuple[Any, Any, Any]:
    """The checks and document of a bounded decimal: >= 0 (or > 0), <= maximum, at most `places` decimals."""
    bound = (
        Field(gt=0, le=maximum, decimal_places=places) if positive else Field(ge=0, le=maximum, decimal_places=places)
    )
    return (
        BeforeValidator(_decimal),
        bound,
        WithJsonSchema(_number_schema(Decimal(0), maximum, places, exclusive=positive)),
    )


_MONEY = _money_like(MAX_MONEY, 2)
_PRICE = _money_like(MAX_MONEY, 2, positive=True)
_WEIGHT = _money_like(MAX_WEIGHT, 3, positive=True)
_PERCENT = _money_like(MAX_PERCENT, 2)
_RATE = _money_like(MAX_RATE, 4)
Money = Annotated[Decimal, _MONEY[0], _MONEY[1], _MONEY[2]]
PositiveMoney = Annotated[Decimal, _PRICE[0], _PRICE[1], _PRICE[2]]
Weight = Annotated[Decimal, _WEIGHT[0], _WEIGHT[1], _WEIGHT[2]]
Percentage = Annotated[Decimal, _PERCENT[0], _PERCENT[1], _PERCENT[2]]
Rate = Annotated[Decimal, _RATE[0], _RATE[1], _RATE[2]]

Count = Annotated[int, Field(ge=0, le=MAX_INT)]
Quantity = Annotated[int, Field(ge=1, le=10_000)]
Id = Annotated[int, Field(ge=1, le=MAX_INT)]
Days = Annotated[int, Field(ge=0, le=3650)]
# What the old admin forms send for an empty input: a field that takes it (as null) says so.
Blank = Literal[""]


def money_fits(amount: Decimal, field: str) -> None:
    """400 when lines add up to more than a money column can hold with tax and shipping on top.

    Checked on the way in, before the totals are computed (a tax rate is at most 1, so half the
    column leaves room for both)."""
    if amount > MAX_MONEY / 2:
        raise InvalidInput("Invalid input", details={field: "add up to more than an order can total"})


def _date(value: Any) -> Any:
    if isinstance(value, dt.date):
        return value
    if not isinstance(value, str):
        raise PydanticCustomError("date", "must be a date (YYYY-MM-DD)")
    try:
        day = dt.date.fromisoformat(value.strip()) if len(value.strip()) == 10 else None
    except ValueError:
        raise PydanticCustomError("date", "must be a real date (YYYY-MM-DD)") from None
    if day is None:
        raise PydanticCustomError("date", "must be a date (YYYY-MM-DD)")
    if not FIRST_DATE <= day <= LAST_DATE:
        raise PydanticCustomError("date", f"must be between {FIRST_DATE} and {LAST_DATE}")
    return day


Date = Annotated[
    dt.date,
    BeforeValidator(_date),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date",
            "pattern": r"^\s*(19|2[0-9])[0-9]{2}-[0-9]{2}-[0-9]{2}\s*$",
            "description": f"a date from {FIRST_DATE} to {LAST_DATE}",
        }
    ),
]


def _uuid(value: Any) -> Any:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise PydanticCustomError("uuid", "must be a UUID") from None


Uuid = Annotated[uuid.UUID, BeforeValidator(_uuid), WithJsonSchema({"type": "string", "format": "uuid"})]
