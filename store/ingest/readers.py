"""Stream the rows of an import file on disk (JSON Lines, a JSON array or Parquet), in flat memory whatever its size.

`iter_rows` yields `(number, value)`: the 1-based line (JSONL), item (JSON array) or row (Parquet) number and the
decoded value, or a `RowError` for a row that cannot be decoded. A bad JSONL line does not stop the file: the next
lines are read. A JSON array cannot be resumed after a syntax error: one `RowError` names the item where it broke
and the rows stop. Nothing here knows layouts; `store.ingest.layouts` turns each value into a task.

Files compressed with gzip (`.jsonl.gz`, `.json.gz`: how Hugging Face and GitHub releases ship many datasets) are
read through `gzip` as they stream, found by their magic bytes. A JSON Lines line is bounded too
(`MAX_LINE_BYTES`): a longer one is a `RowError`, skipped without holding it (a file with no newline is one line).

Nesting is bounded: a JSON row nested deeper than `MAX_DEPTH` levels is a `RowError`, never a crash (the bound is
far above what instruction data holds and far below what breaks a decoder or an encoder down the line); a Parquet
file whose schema nests too deeply is refused (pyarrow's own schema depth limit, about 50 lists).
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import ijson
import msgspec
import pyarrow as pa
import pyarrow.parquet as pq

from domain.errors import InvalidInputError
from domain.imports import FileFormat
from store.ingest.formats import TOO_DEEP

MAX_DEPTH = 100
MAX_LINE_BYTES = 64 * 1024 * 1024  # far above any record within the text limits (100,000 characters a text)
_GZIP = b"\x1f\x8b"
PARQUET_BATCH_ROWS = 2048
_BOM = b"\xef\xbb\xbf"
_WHITESPACE = b" \t\r\n"
_SNIFF_CHUNK = 64 * 1024
_READ_BUFFER = 64 * 1024  # JSONL lines come ~2.5x faster than through the default 8 KiB buffer
_PARQUET_BUFFER = 1 << 20  # read column chunks through a 1 MiB buffer instead of a whole row group at once
_TOO_DEEP = f"{TOO_DEEP} (more than {MAX_DEPTH} levels)"
_STARTS = ("start_map", "start_array")
_ENDS = ("end_map", "end_array")


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    """A row that could not be decoded, and why."""

    reason: str


def _open(path: Path) -> IO[bytes]:
    """The file's bytes, decompressed as they are read when it is gzip."""
    with path.open("rb") as f:
        compressed = f.read(2) == _GZIP
    return gzip.open(path, "rb") if compressed else path.open("rb", buffering=_READ_BUFFER)  # type: ignore[return-value]


def sniff_format(path: Path) -> FileFormat:
    """Parquet by its magic bytes, a JSON array by its first `[`, else JSON Lines (inside gzip too)."""
    with _open(path) as f:
        if f.read(4) == b"PAR1":
            return "parquet"
        f.seek(0)
        return "json" if _first_byte(f) == b"[" else "jsonl"


def iter_rows(path: Path, file_format: FileFormat) -> Iterator[tuple[int, Any | RowError]]:
    """The rows of the file, one at a time, numbered from 1 (see the module docstring)."""
    if file_format == "parquet":
        yield from _parquet_rows(path)
        return
    with _open(path) as f:
        yield from (_array_rows(f) if file_format == "json" else _jsonl_rows(f))


def _first_byte(f: IO[bytes]) -> bytes:
    """The first byte that is not whitespace (after a UTF-8 byte order mark), b"" at the end; `f` is left on it."""
    if f.read(3) != _BOM:
        f.seek(0)
    while chunk := f.read(_SNIFF_CHUNK):
        stripped = chunk.lstrip(_WHITESPACE)
        if stripped:
            f.seek(-len(stripped), 1)  # back onto the first non-blank byte
            return stripped[:1]
    return b""


def _lines(f: IO[bytes]) -> Iterator[bytes | None]:
    """Each line of `f`; None for one longer than MAX_LINE_BYTES (read past in bounded pieces, never held)."""
    while line := f.readline(MAX_LINE_BYTES + 1):
        if len(line) > MAX_LINE_BYTES and not line.endswith(b"\n"):
            while (rest := f.readline(MAX_LINE_BYTES)) and not rest.endswith(b"\n"):
                pass
            yield None
            continue
        yield line


def _jsonl_rows(f: IO[bytes]) -> Iterator[tuple[int, Any | RowError]]:
    for number, line in enumerate(_lines(f), start=1):
        if line is None:
            yield number, RowError(reason=f"the line is longer than {MAX_LINE_BYTES:,} bytes")
            continue
        if number == 1:
            line = line.removeprefix(_BOM)
        if not line.strip():
            continue  # blank lines are skipped but counted, so numbers match an editor's
        try:
            value = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            yield number, RowError(reason=f"invalid JSON: {exc}")
            continue
        except RecursionError:
            yield number, RowError(reason=f"invalid JSON: {_TOO_DEEP}")
            continue
        # Counting brackets is cheap and rules out deep nesting for almost every line before walking the value.
        deep = line.count(b"[") + line.count(b"{") > MAX_DEPTH and not _within_depth(value)
        yield number, (RowError(reason=_TOO_DEEP) if deep else value)


def _within_depth(value: Any) -> bool:
    """Whether `value` nests at most MAX_DEPTH containers (walked with a stack: recursion is what we guard)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        if depth > MAX_DEPTH:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _array_rows(f: IO[bytes]) -> Iterator[tuple[int, Any | RowError]]:
    first = _first_byte(f)
    if first == b"":
        return  # an empty file holds no rows; the caller says so
    if first != b"[":
        yield 1, RowError(reason="the file is not a JSON array: its top-level value does not start with '['")
        return
    number = 0
    try:
        for number, value in enumerate(_array_items(f), start=1):
            yield number, value
    except (ijson.JSONError, UnicodeDecodeError) as exc:
        # The parser cannot find the next item after a syntax error: nothing after it is read.
        yield number + 1, RowError(reason=f"invalid JSON, nothing after it was read: {_first_line(exc)}")


def _first_line(exc: Exception) -> str:
    """The parser's message without the excerpt it draws under it (yajl gives bytes for some errors)."""
    message = exc.args[0] if exc.args else exc
    text = message.decode(errors="replace") if isinstance(message, bytes) else str(message)
    return text.split("\n", 1)[0]


def _array_items(f: IO[bytes]) -> Iterator[Any | RowError]:
    """The items of a JSON array, built from the parser's events.

    `ijson.items` would be ~1.7x faster, but it keeps the path of every open container ("item.item.item..."), so
    its memory grows with the square of the nesting depth: a 200 KB file of nested brackets takes 4 GB. Building
    the values here bounds the depth, and an item nested too deeply is skipped (the array goes on after it).
    """
    events = ijson.basic_parse(f, use_float=True)
    next(events, None)  # the array's own start_array
    stack: list[Any] = []  # the open containers of the current item, innermost last
    keys: list[Any] = []  # the pending key of each open map (None in a list)
    for event, value in events:
        if event == "map_key":
            keys[-1] = value
            continue
        if event in _STARTS:
            if len(stack) < MAX_DEPTH:
                stack.append({} if event == "start_map" else [])
                keys.append(None)
                continue
            _skip_item(events, depth=len(stack) + 1)
            stack.clear()
            keys.clear()
            yield RowError(reason=_TOO_DEEP)
            continue
        if event in _ENDS:
            if not stack:
                break  # the end of the array itself
            value = stack.pop()
            keys.pop()
        if not stack:
            yield value
        elif type(stack[-1]) is list:
            stack[-1].append(value)
        else:
            stack[-1][keys[-1]] = value
    for _ in events:  # the parser raises on anything but blanks after the array; this is a second guard
        raise ijson.JSONError("content after the end of the array")


def _skip_item(events: Iterator[tuple[str, Any]], depth: int) -> None:
    """Consume the events up to the end of the item, `depth` containers deep now."""
    for event, _ in events:
        if event in _STARTS:
            depth += 1
        elif event in _ENDS:
            depth -= 1
            if depth == 0:
                return


def _parquet_rows(path: Path) -> Iterator[tuple[int, Any | RowError]]:
    number = 0
    try:
        with pq.ParquetFile(path, buffer_size=_PARQUET_BUFFER, pre_buffer=False) as parquet:
            for batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS):
                for row in batch.to_pylist():
                    number += 1
                    yield number, row
    except (pa.ArrowException, OSError) as exc:
        where = f" after row {number}" if number else ""
        raise InvalidInputError(f"the file is not readable as Parquet{where}: {exc}", code="invalid_upload") from None
