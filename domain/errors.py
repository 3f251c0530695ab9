"""The domain error tree. No HTTP in here: `service.errors` maps each class to a status code.

InstructForgeError          base; carries a stable machine-readable `code`
├── NotFoundError           an id that names nothing (dataset, record, ...)
├── ConflictError           the request clashes with existing state (a dataset name taken)
└── InvalidInputError       well-formed HTTP, bad content (an upload line, a cursor)
"""

from __future__ import annotations

from typing import Any


class InstructForgeError(Exception):
    code = "error"

    def __init__(self, detail: str, *, code: str | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if code is not None:
            self.code = code
        self.extra = extra or {}


class NotFoundError(InstructForgeError):
    code = "not_found"


class ConflictError(InstructForgeError):
    code = "conflict"


class InvalidInputError(InstructForgeError):
    code = "invalid_input"
