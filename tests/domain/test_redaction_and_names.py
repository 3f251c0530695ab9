from __future__ import annotations

import pytest

from domain.errors import InvalidInputError
from domain.names import check_name, is_valid_name
from domain.redaction import redact_text, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://u:hunter2@host:8000/v1?key=abc#frag", "http://***@host:8000/v1?***"),
        ("http://host:8000", "http://host:8000"),
        ("https://host/v1/", "https://host/v1/"),
        ("http://user@host", "http://***@host"),
        ("http://u:pa/ss@host/v1", "http://***@host/v1"),  # a raw `/` in the password still hides it
        ("not a url", "***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_every_url_in_a_message() -> None:
    message = "Client error '404' for url 'http://u:hunter2@10.1.2.3:8000/v1/models?token=t' (see http://ok:1/x)"
    assert (
        redact_text(message)
        == "Client error '404' for url 'http://***@10.1.2.3:8000/v1/models?***' (see http://ok:1/x)"
    )


@pytest.mark.parametrize("name", ["a", "humaneval", "MBPP-v1.2_test", "9" * 100])
def test_valid_names(name: str) -> None:
    assert check_name(name) == name


@pytest.mark.parametrize(
    "name", ["", "a/b", "../../x", "x\u202e", "x\n", ".hidden", "-x", "a b", "é", "a\x00", "9" * 101, "ｆｕｌｌ"]
)
def test_invalid_names(name: str) -> None:
    assert not is_valid_name(name)
    with pytest.raises(InvalidInputError) as raised:
        check_name(name, "benchmark name")
    assert raised.value.code == "invalid_name"
