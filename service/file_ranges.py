"""Conditional and partial file downloads: `If-None-Match` -> 304, one `Range: bytes=...` -> 206.

The choices, within RFC 9110:
- `If-None-Match` uses the weak comparison (13.1.2), so the `W/` ETag of a gzipped answer still gets its 304;
  `*` matches any file that exists. A 304 wins over `Range`.
- One byte range per request. A request for several (`bytes=0-9,20-29`) is answered 200 with the whole
  file, as 14.2 allows (a server MAY ignore Range): no multipart/byteranges bodies. A Range that does not
  parse, or names another unit, is ignored the same way.
- `If-Range` with anything but the file's own strong ETag (a date, a weak or stale tag) also gets the whole
  file, so a client never splices bytes of two versions.
- A first byte at or past the end (or any range of an empty file, or `bytes=-0`) is 416 with
  `Content-Range: bytes */SIZE` and the service's error body.
- A 206 is never gzipped (`service.compression` leaves every status but 200 alone).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from litestar import Response
from litestar.openapi.datastructures import ResponseSpec
from litestar.response import File, Stream
from litestar.response.file import create_etag_for_file

from service.errors import CodedHTTPException, ErrorBody, error_responses

CHUNK_BYTES = 1024 * 1024
_RANGE = re.compile(r"(\d*)-(\d*)", re.ASCII)
_HUGE = 10**18  # a position written with more digits than this is past the end of any file


# The download's documented statuses: the errors, and the conditional and partial answers.
DOWNLOAD_RESPONSES = error_responses(400, 401, 404) | {
    206: ResponseSpec(data_container=None, description="one `Range` of the file, with Content-Range"),
    304: ResponseSpec(data_container=None, description="not modified: `If-None-Match` names the file's ETag"),
    416: ResponseSpec(
        data_container=ErrorBody, generate_examples=False,
        description="the range starts past the end of the file (`Content-Range: bytes */SIZE`)",
    ),
}  # fmt: skip


def _position(digits: str) -> int:
    return int(digits) if len(digits) <= 18 else _HUGE  # int() refuses over 4,300 digits: never reach it


class UnsatisfiableRange(ValueError):
    """The one range asked for starts past the end of the file."""


def etag_matches(if_none_match: str, etag: str) -> bool:
    """`If-None-Match` against the file's ETag, by the weak comparison (`W/` prefixes ignored)."""
    if if_none_match.strip() == "*":
        return True
    opaque = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == opaque for tag in if_none_match.split(","))


def byte_range(header: str, size: int) -> range | None:
    """The bytes one `Range: bytes=a-b` asks for (end clipped to the file); None: send the whole file.

    Raises `UnsatisfiableRange` when the range starts at or past the end.
    """
    unit, equals, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not equals or "," in spec:
        return None
    match = _RANGE.fullmatch(spec.strip())
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":  # a suffix: the last N bytes
        length = _position(last)
        if length == 0 or size == 0:
            raise UnsatisfiableRange(header)
        return range(max(0, size - length), size)
    start = _position(first)
    end = _position(last) if last else _HUGE
    if end < start:
        return None  # not a valid range-spec: ignored like any other that does not parse
    if start >= size:
        raise UnsatisfiableRange(header)
    return range(start, min(end, size - 1) + 1)


def _read(path: Path, span: range) -> Iterator[bytes]:
    with path.open("rb") as file:
        file.seek(span.start)
        left = len(span)
        while left > 0 and (chunk := file.read(min(CHUNK_BYTES, left))):
            left -= len(chunk)
            yield chunk


def file_response(path: Path, filename: str, media_type: str, headers: Mapping[str, str]) -> Response:
    """The file as 200, or 304 / 206 / 416 as the request's conditional and range headers ask."""
    stat = path.stat()
    etag = create_etag_for_file(path=path, modified_time=stat.st_mtime, file_size=stat.st_size)
    common = {"etag": etag, "accept-ranges": "bytes"}
    if (if_none_match := headers.get("if-none-match")) is not None and etag_matches(if_none_match, etag):
        return Response(content=b"", status_code=304, headers=common)
    span = None
    if (wanted := headers.get("range")) is not None and headers.get("if-range", etag).strip() == etag:
        try:
            span = byte_range(wanted, stat.st_size)
        except UnsatisfiableRange:
            raise CodedHTTPException(
                416, "range_not_satisfiable", f"the file has {stat.st_size} bytes; the range asks for none of them",
                headers={"content-range": f"bytes */{stat.st_size}"},
            ) from None  # fmt: skip
    if span is None:
        return File(path=path, filename=filename, media_type=media_type, headers=common)
    return Stream(
        _read(path, span),
        status_code=206,
        media_type=media_type,
        headers=common | {
            "content-range": f"bytes {span.start}-{span.stop - 1}/{stat.st_size}",
            "content-length": str(len(span)),
            "content-disposition": f'attachment; filename="{filename}"',  # only the snapshot's own plain names get here
        },
    )  # fmt: skip
