"""ETags and conditional GETs for the public catalogue."""

from __future__ import annotations

from jaan.web.etag import etag_of, matches


def test_the_etag_depends_on_the_body_only():
    assert etag_of(b"a") == etag_of(b"a") != etag_of(b"b")
    assert etag_of(b"a").startswith('W/"')


def test_if_none_match_compares_weakly_and_accepts_lists_and_star():
    tag = etag_of(b"body")
    assert matches(tag, tag)
    assert matches(tag.removeprefix("W/"), tag)
    assert matches(f'"other", {tag}', tag)
    assert matches("*", tag)
    assert not matches('"other"', tag)
