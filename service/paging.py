"""Paging parameters shared by the list endpoints."""

from __future__ import annotations

import re

from domain.errors import InvalidInputError
from service.params import DATASET_CURSOR_PATTERN, JOB_CURSOR_PATTERN, TASK_CURSOR_DIGITS
from service.settings import LimitsSettings

_TASK_CURSOR = re.compile(f"[0-9]{{1,{TASK_CURSOR_DIGITS}}}")  # ASCII digits only: `str.isdigit` takes "²" and "٣"
_ID_CURSORS = {"dataset": re.compile(DATASET_CURSOR_PATTERN[1:-1]), "job": re.compile(JOB_CURSOR_PATTERN[1:-1])}


def page_size(limit: int | None, limits: LimitsSettings) -> int:
    if limit is None:
        return limits.default_page_size
    if not 1 <= limit <= limits.max_page_size:
        raise InvalidInputError(f"limit must be between 1 and {limits.max_page_size}", code="invalid_limit")
    return limit


def task_cursor(cursor: str | None) -> int:
    """Record cursors are the last id of the previous page, as a decimal string."""
    if cursor is None:
        return 0
    if _TASK_CURSOR.fullmatch(cursor) is None:
        raise InvalidInputError(f"invalid cursor {cursor!r}", code="invalid_cursor")
    return int(cursor)


def id_cursor(cursor: str | None, kind: str) -> str | None:
    """Dataset and job cursors are the last id of the previous page; anything else is refused, not compared."""
    if cursor is not None and _ID_CURSORS[kind].fullmatch(cursor) is None:
        raise InvalidInputError(f"invalid cursor {cursor!r}", code="invalid_cursor")
    return cursor
