"""Slugs, UPC-A check digits and the old admin form's blanks."""

from __future__ import annotations

import pytest

from jaan.shop.catalogue.forms import upc_a_is_valid
from jaan.shop.catalogue.slugs import first_free, slugify
from jaan.web.input import FormBody


@pytest.mark.parametrize(
    ("name", "slug"),
    [
        ("Basmati Rice 5 kg", "basmati-rice-5-kg"),
        ("  --Ghee (Pure!)--  ", "ghee-pure"),
        ("Café Crème", "cafe-creme"),
        ("चाय", "product"),
        ("A__B", "a-b"),
    ],
)
def test_slugify_follows_the_spec_rule(name, slug):
    assert slugify(name) == slug


def test_first_free_appends_the_first_unused_number():
    assert first_free("rice", set()) == "rice"
    assert first_free("rice", {"rice"}) == "rice-2"
    assert first_free("rice", {"rice", "rice-2", "rice-3"}) == "rice-4"


@pytest.mark.parametrize(("code", "valid"), [("036000291452", True), ("036000291453", False), ("12ab", False)])
def test_upc_a_check_digit(code, valid):
    assert upc_a_is_valid(code) is valid


class _Form(FormBody):
    blanks = ("expiryDate", "name2")
    zeros = ("comparePrice", "weight", "isNew")

    expiry_date: str | None
    compare_price: int | None
    name: str
    is_new: bool
    weight: str | None


def test_blank_and_zero_mean_null_only_in_the_named_fields():
    data = {"expiryDate": "", "comparePrice": 0, "name": "", "isNew": False, "weight": "0"}
    form = _Form.model_validate(data)
    assert form.model_dump() == {
        "expiry_date": None,
        "compare_price": None,
        "name": "",
        "is_new": False,
        "weight": None,
    }
