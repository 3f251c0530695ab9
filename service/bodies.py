"""Request bodies as the service reads them: strictly typed JSON, and the media types of uploads."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec
from litestar import Request

from domain.errors import InvalidInputError
from service.errors import CodedHTTPException
from store.ingest.formats import UploadKind

T = TypeVar("T")
TOO_DEEP = "the body is nested too deeply to decode"

_JSONL_TYPES = {
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/jsonlines",
    "application/x-jsonlines",
    "text/jsonl",
}


async def strict_body(request: Request, struct: type[T]) -> T:
    """The body decoded as `struct` with no coercion: `"target": "5"` is an error, not 5.

    Litestar converts bodies leniently (strings to numbers); a request that configures something must
    mean exactly what it says, so the handler's typed `data` documents the body and this reads it.
    """
    try:
        return msgspec.json.decode(await request.body(), type=struct, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInputError(f"invalid request body: {exc}", code="invalid_request") from None
    except msgspec.DecodeError as exc:
        raise InvalidInputError(f"the body is not valid JSON: {exc}", code="invalid_request") from None
    except RecursionError:
        raise InvalidInputError(TOO_DEEP, code="invalid_request") from None


def upload_kind(content_type: str, body: bytes) -> UploadKind:
    """JSON Lines or a JSON array, by media type; sniffed only when the client named none."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _JSONL_TYPES:
        return "jsonl"
    if media_type == "application/json":
        return "json"
    if media_type in ("", "text/plain", "application/octet-stream"):
        return "json" if body.lstrip()[:1] == b"[" else "jsonl"
    raise CodedHTTPException(
        415, "unsupported_media_type", f"seeds must be application/x-ndjson or application/json, not {media_type}"
    )


class ServiceRequest(Request):
    """Litestar's request, except that a body nested past what JSON decoding allows is a 400, not a 500.

    msgspec decodes recursively and raises RecursionError for a body nested about 1,000 deep; Litestar's
    own body extraction (`data: JSONBody[...]`) does not map it. Nothing has been read from the body yet,
    so nothing is written.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise InvalidInputError(TOO_DEEP, code="invalid_request") from None
