"""What the admin product and variant forms share: their quirks and UPC-A."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from jaan.web.errors import InvalidInput
from jaan.web.validation import Decimal_


class Weight(Decimal_):
    """A weight: a finite number with at most three decimals (the columns' numeric(12, 3))."""

    places = 3


def blank_as_null(data: Any, *, blanks: Iterable[str] = (), zeros: Iterable[str] = ()) -> Any:
    """The body with the old admin form's "nothing here" values turned into null.

    That form sends ``""`` for an empty text or date input and ``0`` for an unset number;
    the original stored both as NULL, and so do we (rather than refusing them).
    """
    if not isinstance(data, dict):
        return data  # validation says what is wrong with it
    clean = dict(data)
    for key in blanks:
        if isinstance(clean.get(key), str) and not clean[key].strip():
            clean[key] = None
    for key in zeros:
        if clean.get(key) in (0, "0", "") and not isinstance(clean.get(key), bool):
            clean[key] = None
    return clean


def upc_a_is_valid(code: str) -> bool:
    """Whether a 12-digit code carries the right UPC-A check digit (spec §5.7)."""
    if len(code) != 12 or not code.isdigit():
        return False
    digits = [int(d) for d in code]
    odd, even = sum(digits[0:11:2]), sum(digits[1:11:2])
    return (10 - (3 * odd + even) % 10) % 10 == digits[11]


def upc_a(form: dict[str, Any], field: str) -> None:
    """Refuse (400) a UPC-A in `form[field]` whose check digit is wrong."""
    code = form.get(field)
    if code is not None and not upc_a_is_valid(code):
        raise InvalidInput("Invalid input", details={field: "is not a valid UPC-A code (check digit)"})
