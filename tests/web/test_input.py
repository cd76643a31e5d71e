"""The input boundary: clean typed values out, every bad field named, bounds from the columns."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

import pytest
from aiohttp.test_utils import make_mocked_request
from pydantic import Field

from jaan.web import input as input_module
from jaan.web.errors import InvalidInput
from jaan.web.fields import Date, Email, Id, Money, Quantity, Text
from jaan.web.input import Body, Query, parse, parse_query, partial
from jaan.web.paging import Paging, PerPage


class Line(Body):
    product_id: Id
    quantity: Quantity


class Order(Body):
    name: Annotated[str, Text(1, 5)]
    note: Annotated[str, Text(max_length=20)] = ""
    phone: Annotated[str, Text(max_length=20)] | None = None
    price: Money = Decimal(0)
    status: Literal["pending", "shipped"] = "pending"
    items: Annotated[list[Line], Field(max_length=3)] = Field(default_factory=list)


def details_of(model, data):
    with pytest.raises(InvalidInput) as caught:
        parse(model, data)
    return caught.value.details


def test_money_is_decimal_with_at_most_two_places_and_bounded_by_its_column():
    assert parse(Order, {"name": "Rice", "price": 12.5}).price == Decimal("12.5")
    assert parse(Order, {"name": "Rice", "price": "3.99"}).price == Decimal("3.99")
    assert details_of(Order, {"name": "Rice", "price": 1.005}) == {"price": "must have at most 2 decimals"}
    assert details_of(Order, {"name": "Rice", "price": 1e27}) == {"price": "must be at most 9999999999.99"}


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1", "abc", True, [1], {"a": 1}])
def test_money_refuses_nan_negatives_and_non_numbers(bad):
    assert "price" in details_of(Order, {"name": "Rice", "price": bad})


@pytest.mark.parametrize("bad", [1.5, "2", True, -1, 0, 10**12])
def test_quantity_must_be_a_whole_json_number_in_range(bad):
    assert details_of(Order, {"name": "Rice", "items": [{"product_id": 1, "quantity": bad}]})["items"]


def test_missing_required_fields_are_named_and_defaults_apply():
    assert details_of(Order, {}) == {"name": "is required"}
    assert parse(Order, {"name": "Rice"}).note == ""


def test_every_invalid_field_is_named_at_once_in_the_shops_words():
    details = details_of(Order, {"name": "basmati", "status": "lost", "items": [{"product_id": 1, "quantity": 0}]})
    assert details == {
        "name": "must be at most 5 characters",
        "status": "must be one of: pending, shipped",
        "items": "item 1 quantity must be at least 1",
    }


def test_null_only_where_allowed_and_strings_are_trimmed():
    assert details_of(Order, {"name": None, "phone": None}) == {"name": "must not be null"}
    assert parse(Order, {"name": "  rice "}).name == "rice"
    assert details_of(Order, {"name": 12}) == {"name": "must be a string"}


def test_emails_are_normalised_to_lower_case():
    class Signup(Body):
        email: Email

    assert parse(Signup, {"email": " Buyer@Shop.Example "}).email == "buyer@shop.example"
    assert details_of(Signup, {"email": "not-an-email"}) == {"email": "must be a valid email address"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0001-01-01", "must be between 1900-01-01 and 2999-12-31"),
        ("2024-02-30", "must be a real date (YYYY-MM-DD)"),
        ("20240101", "must be a date (YYYY-MM-DD)"),
    ],
)
def test_dates_are_real_and_within_the_documented_range(text, message):
    class Report(Query):
        start: Date

    assert details_of(Report, {"start": text}) == {"start": message}


def test_a_partial_model_keeps_absent_fields_absent_and_still_refuses_null():
    Changes = partial(Order, "OrderChanges")
    assert parse(Changes, {"note": "x"}).model_dump(exclude_unset=True) == {"note": "x"}
    assert details_of(Changes, {"name": None}) == {"name": "must not be null"}
    assert not Changes.model_json_schema().get("required")


def test_body_must_be_an_object():
    with pytest.raises(InvalidInput, match="JSON object"):
        parse(Order, ["not", "an", "object"])


class Listing(Paging):
    per_page: PerPage = 12


def page_for(query: str) -> Listing:
    return parse_query(make_mocked_request("GET", f"/x?{query}"), Listing)


def test_pagination_defaults_and_offsets():
    assert (page_for("").page, page_for("").per_page, page_for("").offset) == (1, 12, 0)
    assert (page_for("page=3&per_page=10").offset, page_for("page=3&per_page=10").per_page) == (20, 10)


def test_a_query_string_seen_before_is_not_parsed_again_and_is_read_raw(monkeypatch):
    monkeypatch.setattr(input_module, "_PARSED_QUERIES", {})
    monkeypatch.setattr(input_module, "PARSED_QUERIES_KEPT", 2)
    first = page_for("page=3&per_page=10")
    assert page_for("page=3&per_page=10") is first
    # "per_page=10%26page=9" is one parameter (a bad per_page), not the string above once decoded.
    with pytest.raises(InvalidInput):
        page_for("page=3&per_page=10%26page=9")
    assert page_for("page=4").page == 4 and page_for("").page == 1
    assert len(input_module._PARSED_QUERIES) == 2  # bounded: the least recently used went
    assert page_for("page=3&per_page=10") is not first and page_for("page=3&per_page=10").offset == 20


@pytest.mark.parametrize(
    "bad", ["page=0", "page=-1", "per_page=101", "per_page=0", "page=abc", "page=", "page=1&page=2", "page=1e3"]
)
def test_pagination_refuses_bad_empty_and_repeated_values(bad):
    with pytest.raises(InvalidInput) as caught:
        page_for(bad)
    assert set(caught.value.details or {}) <= {"page", "per_page"}


def test_paged_result_carries_the_contract_keys_and_past_the_end_is_empty():
    assert Listing(page=5, per_page=10).result([], 42) == {
        "data": [],
        "total": 42,
        "page": 5,
        "per_page": 10,
        "total_pages": 5,
    }
    assert Listing(page=1, per_page=10).result([], 0)["total_pages"] == 0
