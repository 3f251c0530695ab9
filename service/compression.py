"""Gzip for large text answers (exports, snapshot files, lists), streamed chunk by chunk.

Litestar's own `CompressionConfig` middleware compresses every answer it sees: a 206 slice (whose
Content-Range then counts bytes the client never gets), a body that already has a Content-Encoding, a
binary file, and it keeps a strong ETag on bytes that differ from the identity representation. This one
compresses only a 200 whose media type is text-like, with no Content-Encoding or Content-Range, to a
client whose Accept-Encoding takes gzip (`gzip;q=0` refuses it). A compressed answer's ETag is made weak
(`W/"..."`), as nginx does: the gzip bytes are another representation, so a `Range` with `If-Range` must
not match them, while `If-None-Match` (weak comparison) still gets its 304.

A streamed answer (the NDJSON export) stays streamed: each chunk is compressed and sync-flushed as it
comes, so the client can decode every line that was sent without waiting for the end. zstd is not
offered: Python 3.11 has no zstd in its standard library and gzip is what every client decodes.
"""

from __future__ import annotations

import zlib

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

MINIMUM_SIZE = 500  # a whole body below it is sent as it is: gzip's header and trailer outweigh the gain
COMPRESSIBLE = (
    "text/",
    "application/json",
    "application/x-ndjson",
    "application/yaml",
    "application/javascript",
    "application/vnd.oai.openapi",  # the OpenAPI document, JSON or YAML
)
# Server-sent events stay as they are (as Starlette's GZipMiddleware does): proxies and some clients buffer
# a compressed event stream, and its messages are small.
NEVER = ("text/event-stream",)
_GZIP_WBITS = 16 + zlib.MAX_WBITS  # a gzip header and trailer around the deflate stream


def accepts_gzip(accept_encoding: str) -> bool:
    """Whether `Accept-Encoding` takes gzip: named (or `*`) with a q-value above 0 (RFC 9110 12.5.3)."""
    weights: dict[str, float] = {}
    for item in accept_encoding.split(","):
        name, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        weights[name.lower()] = weight
    weight = weights.get("gzip", weights.get("x-gzip", weights.get("*", 0.0)))
    return weight > 0


def compressible(start: Message) -> bool:
    """A 200 of a text-like media type that nothing has encoded or sliced."""
    headers = MutableScopeHeaders(start)
    media_type = (headers.get("content-type") or "").lower()
    return (
        start["status"] == 200
        and "content-encoding" not in headers
        and "content-range" not in headers
        and media_type.startswith(COMPRESSIBLE)
        and not media_type.startswith(NEVER)
    )


def mark_compressed(start: Message, length: int | None) -> None:
    headers = MutableScopeHeaders(start)
    headers["content-encoding"] = "gzip"
    headers.extend_header_value("vary", "Accept-Encoding")
    del headers["content-length"]
    if length is not None:
        headers["content-length"] = str(length)
    etag = headers.get("etag")
    if etag and not etag.startswith("W/"):
        headers["etag"] = "W/" + etag


class GzipMiddleware:
    """ASGI middleware: gzip what `compressible` allows, for clients that accept it; `level` 0: never."""

    def __init__(self, app: ASGIApp, level: int) -> None:
        self.app, self.level = app, level

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] == "HEAD" or self.level == 0:
            await self.app(scope, receive, send)
            return
        if not accepts_gzip(Headers.from_scope(scope).get("accept-encoding", "")):
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, _GzipSend(send, self.level))


class _GzipSend:
    """Holds the response start until the first body message says whether (and how) to compress."""

    def __init__(self, send: Send, level: int) -> None:
        self.send, self.level = send, level
        self.start: Message | None = None
        self.compressor: zlib._Compress | None = None

    async def __call__(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.start = message
            return
        if message["type"] != "http.response.body":  # an extension's message (trailers, pathsend): as it is
            if self.start is not None:
                await self.send(self.start)
                self.start = None
            await self.send(message)
            return
        if self.start is not None:
            await self.begin(self.start, message)
            self.start = None
        elif self.compressor is not None:
            message["body"] = self.compress(message.get("body", b""), message.get("more_body", False))
        await self.send(message)

    async def begin(self, start: Message, first: Message) -> None:
        body, more = first.get("body", b""), first.get("more_body", False)
        start.setdefault("headers", [])
        if compressible(start) and (more or len(body) >= MINIMUM_SIZE):
            self.compressor = zlib.compressobj(self.level, zlib.DEFLATED, _GZIP_WBITS)
            first["body"] = self.compress(body, more)
            mark_compressed(start, None if more else len(first["body"]))
        await self.send(start)

    def compress(self, body: bytes, more: bool) -> bytes:
        assert self.compressor is not None
        # Z_SYNC_FLUSH: everything given so far can be decoded now, so a streamed export keeps streaming
        return self.compressor.compress(body) + self.compressor.flush(zlib.Z_SYNC_FLUSH if more else zlib.Z_FINISH)
