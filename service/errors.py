"""One JSON error shape for every endpoint, and the one table from domain errors to status codes.

Every error body is `{"status_code": int, "code": str, "detail": str, "extra": {...}}`; `code` is stable.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
from msgspec import Meta

from domain.errors import ConflictError, InstructForgeError, InvalidInputError, NotFoundError

log = logging.getLogger("instructforge")

DOMAIN_STATUS: dict[type[InstructForgeError], int] = {
    NotFoundError: 404,
    ConflictError: 409,
    InvalidInputError: 400,
}

# Stable codes for the framework's own errors (routing, validation, limits, auth).
HTTP_CODES: dict[int, str] = {
    400: "invalid_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


def error_response(
    status_code: int, code: str, detail: str, extra: dict | None = None, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        {"status_code": status_code, "code": code, "detail": detail, "extra": extra or {}},
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def _status_for(exc: InstructForgeError) -> int:
    for cls in type(exc).__mro__:
        if cls in DOMAIN_STATUS:
            return DOMAIN_STATUS[cls]
    return 500


def handle_domain_error(_: Request, exc: InstructForgeError) -> Response:
    return error_response(_status_for(exc), exc.code, exc.detail, exc.extra)


def handle_http_error(_: Request, exc: HTTPException) -> Response:
    extra = exc.extra if isinstance(exc.extra, dict) else {"errors": exc.extra} if exc.extra else {}
    code = getattr(exc, "code", None) or HTTP_CODES.get(exc.status_code, f"http_{exc.status_code}")
    if isinstance(exc, ValidationException):
        code = "invalid_request"
    # The exception's headers travel with it: `Allow` on a 405, `WWW-Authenticate` on a 401.
    return error_response(exc.status_code, code, exc.detail, extra, exc.headers)


def handle_unexpected_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


EXCEPTION_HANDLERS = {
    InstructForgeError: handle_domain_error,
    HTTPException: handle_http_error,
    Exception: handle_unexpected_error,
}


class CodedHTTPException(HTTPException):
    """An HTTP-level error raised by the service itself (auth, media type) with its stable code."""

    def __init__(self, status_code: int, code: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail=detail, status_code=status_code, headers=headers)
        self.code = code


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """The one error shape, as the OpenAPI document describes it under every error status of every route."""

    status_code: Annotated[int, Meta(description="the HTTP status, repeated")]
    code: Annotated[str, Meta(description="stable and machine-readable: `dataset_not_found`, `invalid_request` ...")]
    detail: Annotated[str, Meta(description="for people: what was wrong")]
    extra: Annotated[
        dict[str, Any], Meta(description="details by code: `errors` (bad lines or fields), `missing`, `line` ...")
    ]


_ERROR_STATUSES = {
    400: "invalid request: a parameter, body or upload the service cannot take",
    401: "a valid API key is required (INSTRUCTFORGE_API_KEYS), with `WWW-Authenticate: Bearer`",
    404: "the id or name names nothing",
    409: "the request clashes with the state (a name taken, a finished job, no engine)",
    413: "the body is larger than INSTRUCTFORGE_MAX_BODY_BYTES",
    415: "an upload media type the service does not read",
    503: "not ready: the engine is starting or failed, or the database does not answer",
}


def error_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """The error answers a route documents: the one error body (`ErrorBody`) under each status it can return.

    Each route names its own: 401 for every /v1 route (the API key guard), 400 where it takes parameters or a
    body, 404 where a path names something, 413 where it reads a body, 409/415/503 where it raises them.
    """
    return {
        status: ResponseSpec(data_container=ErrorBody, description=_ERROR_STATUSES[status], generate_examples=False)
        for status in sorted(statuses)
    }


# For a route that has not named its own: every error status but /ready's 503.
ERROR_RESPONSES = error_responses(400, 401, 404, 409, 413, 415)
