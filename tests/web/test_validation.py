"""The validation module: clean values out, every bad field named."""

from __future__ import annotations

from decimal import Decimal

import pytest
from aiohttp.test_utils import make_mocked_request

from jaan.web.errors import InvalidInput
from jaan.web.validation import (
    Boolean,
    Choice,
    Email,
    Integer,
    ListOf,
    Money,
    Object,
    Page,
    String,
    page_of,
    validate,
)


def details_of(schema, data, **kw):
    with pytest.raises(InvalidInput) as caught:
        validate(schema, data, **kw)
    return caught.value.details


def test_money_is_decimal_with_at_most_two_places():
    assert validate({"price": Money()}, {"price": 12.5}) == {"price": Decimal("12.5")}
    assert validate({"price": Money()}, {"price": "3.99"}) == {"price": Decimal("3.99")}
    assert details_of({"price": Money()}, {"price": 1.005}) == {"price": "must have at most 2 decimals"}


@pytest.mark.parametrize("bad", ["NaN", "Infinity", "-1", "abc", True, [1], {"a": 1}])
def test_money_refuses_nan_negatives_and_non_numbers(bad):
    assert "price" in details_of({"price": Money()}, {"price": bad})


@pytest.mark.parametrize("bad", [1.5, "2", True, -1, 0, 10**12])
def test_quantity_must_be_a_whole_number_in_range(bad):
    assert "quantity" in details_of({"quantity": Integer(minimum=1, maximum=10_000)}, {"quantity": bad})


def test_query_text_is_parsed_as_numbers_and_booleans():
    schema = {"page": Integer(minimum=1), "in_stock": Boolean(default=False)}
    assert validate(schema, {"page": "3", "in_stock": "true"}, from_text=True) == {
        "page": 3,
        "in_stock": True,
    }
    assert "page" in details_of(schema, {"page": "abc"}, from_text=True)
    assert "page" in details_of(schema, {"page": "1e3"}, from_text=True)


def test_missing_required_fields_are_named_and_defaults_apply():
    schema = {"name": String(min_length=1), "note": String(default="")}
    assert details_of(schema, {}) == {"name": "is required"}
    assert validate(schema, {"name": "Rice"}) == {"name": "Rice", "note": ""}


def test_partial_validation_keeps_absent_fields_absent():
    schema = {"name": String(min_length=1), "stock": Integer(minimum=0)}
    assert validate(schema, {"name": "Lentils"}, partial=True) == {"name": "Lentils"}


def test_null_only_where_allowed():
    schema = {"phone": String(nullable=True, required=False), "name": String()}
    assert details_of(schema, {"phone": None, "name": None}) == {"name": "must not be null"}


def test_strings_are_trimmed_and_bounded():
    assert validate({"s": String(max_length=5)}, {"s": "  rice "}) == {"s": "rice"}
    assert "s" in details_of({"s": String(max_length=5)}, {"s": "basmati"})
    assert "s" in details_of({"s": String()}, {"s": 12})


def test_emails_are_normalised_to_lower_case():
    assert validate({"email": Email()}, {"email": " Buyer@Shop.Example "}) == {"email": "buyer@shop.example"}
    assert "email" in details_of({"email": Email()}, {"email": "not-an-email"})


def test_choices_lists_and_objects():
    line = Object({"product_id": Integer(minimum=1), "quantity": Integer(minimum=1)})
    schema = {"status": Choice(["pending", "shipped"]), "items": ListOf(line, min_items=1)}
    clean = validate(schema, {"status": "pending", "items": [{"product_id": 1, "quantity": 2}]})
    assert clean["items"] == [{"product_id": 1, "quantity": 2}]
    details = details_of(schema, {"status": "lost", "items": [{"product_id": 1, "quantity": 0}]})
    assert details["status"].startswith("must be one of")
    assert details["items"] == "item 1 quantity must be at least 1"


def test_body_must_be_an_object():
    with pytest.raises(InvalidInput, match="JSON object"):
        validate({"a": String()}, ["not", "an", "object"])


def page_for(query: str):
    return page_of(make_mocked_request("GET", f"/x?{query}"), default_per_page=12)


def test_pagination_defaults_and_offsets():
    assert (page_for("").page, page_for("").per_page, page_for("").offset) == (1, 12, 0)
    assert (page_for("page=3&per_page=10").offset, page_for("page=3&per_page=10").per_page) == (20, 10)


@pytest.mark.parametrize("bad", ["page=0", "page=-1", "per_page=101", "per_page=0", "page=abc"])
def test_pagination_refuses_out_of_range_numbers(bad):
    with pytest.raises(InvalidInput):
        page_for(bad)


def test_paged_result_carries_the_contract_keys_and_past_the_end_is_empty():
    assert Page(5, 10).result([], 42) == {
        "data": [],
        "total": 42,
        "page": 5,
        "per_page": 10,
        "total_pages": 5,
    }
    assert Page(1, 10).result([], 0)["total_pages"] == 0
