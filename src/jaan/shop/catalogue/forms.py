"""What the admin product and variant forms share: UPC-A codes and the "nothing here" values."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator
from pydantic_core import PydanticCustomError

from jaan.web.fields import Text


def _not_a_bool(value: Any) -> Any:
    # Literal[0] alone takes false for 0 (false == 0 in Python), and a weight of 0 then divides by
    # zero in the product's derived price per unit: a 500 where a 400 is due (schemathesis found it).
    if isinstance(value, bool):
        raise PydanticCustomError("number", "must be a number")
    return value


# The old admin form sends 0 for an unset number (a weight, a supplier, a case size); it means none.
Zero = Annotated[Literal[0], BeforeValidator(_not_a_bool)]


def upc_a_is_valid(code: str) -> bool:
    """Whether a 12-digit code carries the right UPC-A check digit (spec §5.7)."""
    if len(code) != 12 or not code.isdigit():
        return False
    digits = [int(d) for d in code]
    odd, even = sum(digits[0:11:2]), sum(digits[1:11:2])
    return (10 - (3 * odd + even) % 10) % 10 == digits[11]


def _upc_a(code: str) -> str:
    if not upc_a_is_valid(code):
        raise PydanticCustomError("upc_a", "is not a valid UPC-A code (check digit)")
    return code


UpcA = Annotated[str, Text(12, 12, pattern=r"^[0-9]{12}$"), AfterValidator(_upc_a)]
