"""Which validation library parses our hot inputs faster: msgspec or pydantic v2 (issue 10).

The two hot paths: the storefront's product-list query (text values, mostly defaults) and the
checkout body (a nested JSON object with a list of lines).  Each library gets the same bytes or
the same query mapping and must hand back a typed object with the same bounds checked.

    .venv/bin/python perf/validators.py     # prints microseconds per parse, best of 5
"""

from __future__ import annotations

import timeit
from decimal import Decimal
from typing import Annotated, Literal

import msgspec
import orjson
import pydantic

QUERY = {"search": "tea", "min_price": "1.50", "max_price": "20", "sort_by": "price_asc", "page": "2", "per_page": "24"}
CART = orjson.dumps(
    {
        "customer_name": "Ada Buyer",
        "customer_email": "ada@example.com",
        "customer_phone": "+1 555 0100",
        "shipping_address": {"street": "1 Main St", "city": "Springfield", "state": "IL", "zip": "62701"},
        "items": [{"product_id": n, "quantity": 1 + n % 5} for n in range(1, 6)],
        "payment_method": "invoice",
        "notes": "Leave at the back door",
    }
)
Sort = Literal["newest", "name", "price_asc", "price_desc"]


# -- msgspec ------------------------------------------------------------------------------------
class MQuery(msgspec.Struct, forbid_unknown_fields=True):
    category_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)] | None = None
    search: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    in_stock_only: bool = False
    min_price: Decimal | None = None  # msgspec cannot bound a Decimal: it would need a check of ours
    max_price: Decimal | None = None  # msgspec cannot bound a Decimal: it would need a check of ours
    sort_by: Sort = "newest"
    page: Annotated[int, msgspec.Meta(ge=1, le=1_000_000)] = 1
    per_page: Annotated[int, msgspec.Meta(ge=1, le=100)] = 12


class MAddress(msgspec.Struct):
    street: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    city: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    state: Annotated[str, msgspec.Meta(min_length=1, max_length=100)]
    zip: Annotated[str, msgspec.Meta(min_length=1, max_length=20)]
    street2: Annotated[str, msgspec.Meta(max_length=200)] | None = None
    country: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] = "United States"


class MLine(msgspec.Struct):
    product_id: Annotated[int, msgspec.Meta(ge=1, le=2**31 - 1)]
    quantity: Annotated[int, msgspec.Meta(ge=1, le=10_000)]


class MCart(msgspec.Struct):
    customer_name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    customer_email: Annotated[str, msgspec.Meta(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    shipping_address: MAddress
    items: Annotated[list[MLine], msgspec.Meta(min_length=1, max_length=100)]
    payment_method: Annotated[str, msgspec.Meta(min_length=1, max_length=50)]
    customer_phone: Annotated[str, msgspec.Meta(max_length=40)] | None = None
    billing_address: MAddress | None = None
    notes: Annotated[str, msgspec.Meta(max_length=2000)] | None = None


# -- pydantic v2 --------------------------------------------------------------------------------
Strict = pydantic.ConfigDict(extra="ignore", str_strip_whitespace=True)


class PQuery(pydantic.BaseModel):
    model_config = pydantic.ConfigDict(extra="forbid")
    category_id: Annotated[int, pydantic.Field(ge=1, le=2**31 - 1)] | None = None
    search: Annotated[str, pydantic.Field(max_length=200)] | None = None
    in_stock_only: bool = False
    min_price: Annotated[Decimal, pydantic.Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)] | None = None
    max_price: Annotated[Decimal, pydantic.Field(ge=0, le=Decimal("9999999999.99"), decimal_places=2)] | None = None
    sort_by: Sort = "newest"
    page: Annotated[int, pydantic.Field(ge=1, le=1_000_000)] = 1
    per_page: Annotated[int, pydantic.Field(ge=1, le=100)] = 12


class PAddress(pydantic.BaseModel):
    model_config = Strict
    street: Annotated[str, pydantic.Field(min_length=1, max_length=200)]
    city: Annotated[str, pydantic.Field(min_length=1, max_length=100)]
    state: Annotated[str, pydantic.Field(min_length=1, max_length=100)]
    zip: Annotated[str, pydantic.Field(min_length=1, max_length=20)]
    street2: Annotated[str, pydantic.Field(max_length=200)] | None = None
    country: Annotated[str, pydantic.Field(min_length=1, max_length=100)] = "United States"


class PLine(pydantic.BaseModel):
    product_id: Annotated[int, pydantic.Field(ge=1, le=2**31 - 1)]
    quantity: Annotated[int, pydantic.Field(ge=1, le=10_000)]


class PCart(pydantic.BaseModel):
    model_config = Strict
    customer_name: Annotated[str, pydantic.Field(min_length=1, max_length=200)]
    customer_email: Annotated[str, pydantic.Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    shipping_address: PAddress
    items: Annotated[list[PLine], pydantic.Field(min_length=1, max_length=100)]
    payment_method: Annotated[str, pydantic.Field(min_length=1, max_length=50)]
    customer_phone: Annotated[str, pydantic.Field(max_length=40)] | None = None
    billing_address: PAddress | None = None
    notes: Annotated[str, pydantic.Field(max_length=2000)] | None = None


def best_microseconds(call: object, number: int = 20_000) -> float:
    return min(timeit.repeat(call, number=number, repeat=5)) / number * 1e6  # type: ignore[arg-type]


def main() -> None:
    cases = {
        "product-list query, msgspec.convert(strict=False)": lambda: msgspec.convert(QUERY, MQuery, strict=False),
        "product-list query, pydantic model_validate": lambda: PQuery.model_validate(QUERY),
        "checkout body, orjson.loads + msgspec.convert": lambda: msgspec.convert(orjson.loads(CART), MCart),
        "checkout body, msgspec.json.decode (no depth limit)": lambda: msgspec.json.decode(CART, type=MCart),
        "checkout body, orjson.loads + pydantic model_validate": lambda: PCart.model_validate(orjson.loads(CART)),
        "checkout body, pydantic model_validate_json": lambda: PCart.model_validate_json(CART),
    }
    print(f"msgspec {msgspec.__version__}, pydantic {pydantic.VERSION}")
    for name, call in cases.items():
        print(f"{best_microseconds(call):7.2f} us  {name}")


if __name__ == "__main__":
    main()
