"""The HTTP/1.1 protocol classes `instructforge serve` hands uvicorn: its own errors in the API's JSON shape.

uvicorn answers some requests before the application sees them: bytes that do not parse as HTTP (an
unknown method token, a NUL in a header, a bad request line) get a 400, and an application that fails
before it starts its response gets a 500. Stock uvicorn sends those as `text/plain`; these subclasses
send `{"status_code", "code", "detail", "extra"}` like every other error of the service.
"""

from __future__ import annotations

import asyncio

import msgspec
from uvicorn.protocols.http.h11_impl import H11Protocol

_PHRASES = {400: b"Bad Request", 500: b"Internal Server Error"}
_CODES = {400: "invalid_http", 500: "internal_error"}
_DETAILS = {400: "the request is not valid HTTP/1.1", 500: "internal server error"}


def error_body(status: int) -> bytes:
    return msgspec.json.encode({"status_code": status, "code": _CODES[status], "detail": _DETAILS[status], "extra": {}})


def raw_error_response(status: int, default_headers: list[tuple[bytes, bytes]]) -> bytes:
    """A whole HTTP/1.1 response with the JSON error body; the connection closes after it."""
    body = error_body(status)
    lines = [b"HTTP/1.1 %d %s\r\n" % (status, _PHRASES[status])]
    lines += [name + b": " + value + b"\r\n" for name, value in default_headers]
    lines += [
        b"content-type: application/json\r\n",
        b"content-length: %d\r\n" % len(body),
        b"connection: close\r\n",
        b"\r\n",
        body,
    ]
    return b"".join(lines)


class JSONErrors:
    """The two answers uvicorn's protocols write themselves, in the API's error shape."""

    def send_400_response(self, msg: str) -> None:
        self.transport.write(raw_error_response(400, self.server_state.default_headers))
        self.transport.close()

    async def send_500_response(self) -> None:
        body = error_body(500)
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                   (b"connection", b"close")]  # fmt: skip
        await self.send({"type": "http.response.start", "status": 500, "headers": headers})
        await self.send({"type": "http.response.body", "body": body, "more_body": False})


class JSONErrorsH11Protocol(JSONErrors, H11Protocol):
    """uvicorn's pure-Python HTTP/1.1 protocol (h11)."""


def protocol_class() -> type[asyncio.Protocol]:
    """On httptools' parser where it is installed (uvicorn's own choice, and faster), else on h11."""
    try:
        from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
    except ImportError:
        return JSONErrorsH11Protocol
    return type("JSONErrorsHttpToolsProtocol", (JSONErrors, HttpToolsProtocol), {})
