"""Paging parameters shared by the list endpoints."""

from __future__ import annotations

from domain.errors import InvalidInputError
from service.settings import LimitsSettings


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
    if not cursor.isdigit() or len(cursor) > 18:
        raise InvalidInputError(f"invalid cursor {cursor!r}", code="invalid_cursor")
    return int(cursor)
