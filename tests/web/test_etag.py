"""ETags and conditional GETs for the public catalogue."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from jaan.web.envelope import ok
from jaan.web.etag import etag_of, matches, with_etag


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


def test_a_matching_request_gets_an_empty_304_with_the_same_headers():
    first = with_etag(make_mocked_request("GET", "/"), ok([1, 2]))
    assert first.status == 200 and "must-revalidate" in first.headers["Cache-Control"]
    etag = first.headers["ETag"]
    again = with_etag(make_mocked_request("GET", "/", headers={"If-None-Match": etag}), ok([1, 2]))
    assert again.status == 304 and again.headers["ETag"] == etag and not again.body
    assert again.headers["Cache-Control"] == first.headers["Cache-Control"]


def test_errors_are_not_tagged():
    response = with_etag(make_mocked_request("GET", "/"), web.json_response({}, status=404))
    assert "ETag" not in response.headers
