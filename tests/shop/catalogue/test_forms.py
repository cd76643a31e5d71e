"""Slugs, UPC-A check digits and the old admin form's blanks."""

from __future__ import annotations

import pytest

from jaan.shop.catalogue.forms import blank_as_null, upc_a_is_valid
from jaan.shop.catalogue.slugs import first_free, slugify


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


def test_blank_as_null_only_touches_the_named_fields():
    data = {"expiryDate": "", "comparePrice": 0, "name": "", "isNew": False, "weight": "0"}
    clean = blank_as_null(data, blanks=["expiryDate", "name2"], zeros=["comparePrice", "weight", "isNew"])
    assert clean == {"expiryDate": None, "comparePrice": None, "name": "", "isNew": False, "weight": None}
