"""The normal form of an engine endpoint (domain.endpoints): the server's root, from either form a user gives."""

from __future__ import annotations

import pytest

from domain.endpoints import normal_endpoint, normal_endpoints


@pytest.mark.parametrize(
    ("given", "normal"),
    [
        ("http://h:8000", "http://h:8000"),
        ("http://h:8000/", "http://h:8000"),
        ("http://h:8000/v1", "http://h:8000"),  # the OpenAI base URL most clients take
        ("http://h:8000/v1/", "http://h:8000"),
        (" http://h:8000/v1 ", "http://h:8000"),
        ("https://u:p@h/v1", "https://u:p@h"),  # credentials kept: the client needs them (answers redact them)
        ("http://h/proxy/v1", "http://h/proxy"),  # a reverse proxy's prefix stays
        ("http://h/proxy", "http://h/proxy"),
        ("http://h/proxy/", "http://h/proxy"),
        ("http://h/apiv1", "http://h/apiv1"),  # a whole path segment, not a suffix of one
        ("HTTPS://h:8443/v1", "https://h:8443"),
    ],
)
def test_either_form_is_the_servers_root(given: str, normal: str) -> None:
    assert normal_endpoint(given) == normal
    assert normal_endpoint(normal) == normal  # the normal form is its own normal form


@pytest.mark.parametrize(
    ("given", "message"),
    [
        ("ftp://h", "'ftp://h' is not an http(s) URL with a host; expected http://host:8000 or http://host:8000/v1"),
        ("h:8000", "an endpoint needs an http:// or https:// scheme and a host"),
        ("", "an endpoint needs an http:// or https:// scheme and a host"),
        ("http://", "'http://' is not an http(s) URL with a host"),
        ("http://h:99999/v1", "'http://h:99999/v1' is not a URL (Port out of range 0-65535)"),
        ("ftp://u:secret@h", "'ftp://***@h' is not an http(s) URL"),  # no credentials in the message
    ],
)
def test_anything_but_an_http_url_is_refused_with_the_reason(given: str, message: str) -> None:
    with pytest.raises(ValueError) as refused:
        normal_endpoint(given)
    assert str(refused.value).startswith(message)
    assert "secret" not in str(refused.value)


def test_a_list_is_normalised_in_order_once_each_and_names_the_bad_one() -> None:
    given = ["http://b:8000/v1/", "http://a:8000", "http://b:8000", "http://a:8000/v1"]
    assert normal_endpoints(given) == ("http://b:8000", "http://a:8000")
    with pytest.raises(ValueError, match="^endpoint 2: an endpoint needs an http"):
        normal_endpoints(["http://a:8000", "a:8000"])
