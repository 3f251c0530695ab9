"""Names that users give things (datasets, benchmarks): one pattern, one home.

A name is 1 to 100 characters of ASCII letters, digits, `.`, `_` and `-`, starting with a letter or a digit.
So a name is never a path (`a/b`, `../x`), never hides its text (U+202E, zero-width or control characters),
and always fits in a URL segment as it is: whatever can be created can be read and deleted by its name.
"""

from __future__ import annotations

import re
from typing import Annotated

from msgspec import Meta

from domain.errors import InvalidInputError

MAX_NAME_CHARS = 100
# Portable (ECMA and Python) for the OpenAPI document and msgspec; `check_name` adds what `$` cannot say in
# Python's `re.search` (a trailing newline passes `$`).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
NAME_DESCRIPTION = "1 to 100 ASCII letters, digits, '.', '_' or '-', starting with a letter or a digit"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")

Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN, description=NAME_DESCRIPTION)]


def is_valid_name(name: str) -> bool:
    return len(name) <= MAX_NAME_CHARS and _NAME.fullmatch(name) is not None


def check_name(name: str, what: str = "name") -> str:
    """`name` unchanged when valid, else InvalidInputError `invalid_name` saying what a name may hold."""
    if not is_valid_name(name):
        raise InvalidInputError(f"invalid {what} {name!r}: {NAME_DESCRIPTION}", code="invalid_name")
    return name
