"""What the client raises: one tree, drawn here.

ClientError                 anything this client raises on purpose
├── APIError                the service answered an error body: status_code, code, detail, extra
│                           (or an answer this client cannot read: code `unexpected_answer`)
├── UnreachableError        no answer: refused connection, DNS, timeout, a stream cut off
└── IntegrityError          a downloaded file does not match the SHA-256 (or size) the service gave
"""

from __future__ import annotations

from typing import Any

import msgspec


class ClientError(Exception):
    """The root of every error the client raises on purpose."""


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """The service's one error shape (`service.errors`); `code` sits at the top and, for some, in `extra`."""

    status_code: int
    detail: str = ""
    code: str | None = None
    extra: dict[str, Any] = msgspec.field(default_factory=dict)


class APIError(ClientError):
    """The service answered with an error status; its body, as the service wrote it."""

    def __init__(self, status_code: int, code: str, detail: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{status_code} {code}: {detail}")
        self.status_code = status_code
        self.code = code
        self.detail = detail
        self.extra = extra or {}

    @classmethod
    def from_response(cls, status_code: int, content: bytes) -> APIError:
        """Any answer becomes an APIError: a body that is not the service's shape (a proxy's page) still does."""
        try:
            body = msgspec.json.decode(content, type=ErrorBody)
        except (msgspec.ValidationError, msgspec.DecodeError):
            text = content.decode("utf-8", "replace").strip()
            return cls(status_code, f"http_{status_code}", text[:500] or "no detail")
        code = body.code or str(body.extra.get("code") or f"http_{status_code}")
        return cls(status_code, code, body.detail, body.extra)

    def body(self) -> dict[str, Any]:
        return {"status_code": self.status_code, "code": self.code, "detail": self.detail, "extra": self.extra}


class UnreachableError(ClientError):
    """The service could not be reached, or stopped answering mid-way."""


class IntegrityError(ClientError):
    """A downloaded file is not what the service said it is; nothing was kept."""

    def __init__(self, name: str, expected: str, got: str) -> None:
        super().__init__(f"{name}: expected {expected}, got {got}")
        self.name = name
        self.expected = expected
        self.got = got
