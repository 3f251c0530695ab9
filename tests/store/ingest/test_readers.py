from __future__ import annotations

import json
import tracemalloc
from pathlib import Path
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domain.errors import InvalidInputError
from domain.imports import ImportSpec
from domain.records import Instance
from store.ingest.formats import SeedLimits
from store.ingest.layouts import parse_row
from store.ingest.readers import MAX_DEPTH, PARQUET_BATCH_ROWS, RowError, iter_rows, sniff_format

TOO_DEEP = RowError(reason=f"nested too deeply to decode (more than {MAX_DEPTH} levels)")


def write(tmp_path: Path, content: bytes, name: str = "rows") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def rows(path: Path, file_format: str) -> list[tuple[int, Any]]:
    return list(iter_rows(path, file_format))  # type: ignore[arg-type]


def write_parquet(tmp_path: Path, table: pa.Table, **options: Any) -> Path:
    path = tmp_path / "rows.parquet"
    pq.write_table(table, path, **options)
    return path


# --- sniffing -------------------------------------------------------------------------------------------------------


def test_sniff_each_format(tmp_path: Path) -> None:
    parquet = write_parquet(tmp_path, pa.table({"a": [1]}))
    assert sniff_format(parquet) == "parquet"
    assert sniff_format(write(tmp_path, b'\xef\xbb\xbf \n\t [{"a": 1}]')) == "json"
    assert sniff_format(write(tmp_path, b' "[not an array"\n')) == "jsonl"
    assert sniff_format(write(tmp_path, b'{"a": 1}\n{"a": 2}\n')) == "jsonl"
    assert sniff_format(write(tmp_path, b"")) == "jsonl"
    assert sniff_format(write(tmp_path, b" " * 200_000 + b"[]")) == "json"  # blanks over several read chunks


# --- JSON Lines -----------------------------------------------------------------------------------------------------


def test_jsonl_with_a_blank_and_a_bad_line_in_the_middle(tmp_path: Path) -> None:
    path = write(tmp_path, b'\xef\xbb\xbf{"a": 1}\n\n{"a": oops}\n  \n{"a": 2.5}\n[1, "x"]\n{"a": 3}')
    read = rows(path, "jsonl")
    assert [number for number, _ in read] == [1, 3, 5, 6, 7]
    assert [value for _, value in read if not isinstance(value, RowError)] == [{"a": 1}, {"a": 2.5}, [1, "x"], {"a": 3}]
    error = read[1][1]
    assert isinstance(error, RowError) and error.reason.startswith("invalid JSON: ")


def test_jsonl_rows_nested_too_deeply(tmp_path: Path) -> None:
    shallow = b'{"text": "' + b"[{" * 200 + b'", "a": [[1]]}'  # brackets inside a string do not nest
    at_bound = b"[" * MAX_DEPTH + b"]" * MAX_DEPTH
    path = write(tmp_path, b"\n".join([b"[" * 150 + b"]" * 150, b"[" * 50_000 + b"]" * 50_000, shallow, at_bound]))
    read = rows(path, "jsonl")
    assert read[0] == (1, TOO_DEEP)
    assert read[1] == (2, RowError(reason="invalid JSON: nested too deeply to decode (more than 100 levels)"))
    assert read[2] == (3, {"text": "[{" * 200, "a": [[1]]})
    assert read[3][0] == 4 and not isinstance(read[3][1], RowError)


# --- JSON arrays ----------------------------------------------------------------------------------------------------


def test_json_array(tmp_path: Path) -> None:
    body = b'\xef\xbb\xbf [{"a": {"b": [1, {"c": null}]}, "d": true, "e": 1.5, "f": 10}, 3, "x", [], {}]'
    assert rows(write(tmp_path, body), "json") == [
        (1, {"a": {"b": [1, {"c": None}]}, "d": True, "e": 1.5, "f": 10}),
        (2, 3),
        (3, "x"),
        (4, []),
        (5, {}),
    ]


def test_json_array_broken_midway_stops_at_the_item_that_broke(tmp_path: Path) -> None:
    read = rows(write(tmp_path, b'[{"a": 1}, {"a": 2}, {"a": oops}, {"a": 4}]'), "json")
    assert read[:2] == [(1, {"a": 1}), (2, {"a": 2})]
    [(number, error)] = read[2:]
    assert number == 3 and isinstance(error, RowError)
    assert error.reason.startswith("invalid JSON, nothing after it was read: lexical error")


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'[1, 2] ["more"]', (3, "invalid JSON, nothing after it was read: parse error: trailing garbage")),
        (
            b'[1, 2, "\xff"]',
            (3, "invalid JSON, nothing after it was read: lexical error: invalid bytes in UTF8 string."),
        ),
        (b"[1, 2,", (3, "invalid JSON, nothing after it was read: parse error: premature EOF")),
    ],
)
def test_json_array_errors_name_the_item(tmp_path: Path, body: bytes, expected: tuple[int, str]) -> None:
    read = rows(write(tmp_path, body), "json")
    assert read == [(1, 1), (2, 2), (expected[0], RowError(reason=expected[1]))]


def test_json_array_item_nested_too_deeply_is_skipped(tmp_path: Path) -> None:
    # 50,000 levels: ijson.items would hold ~6 GB of paths for this 100 KB file; the reader skips the item.
    at_bound = b'{"a": [' + b"[" * (MAX_DEPTH - 2) + b"]" * (MAX_DEPTH - 2) + b"]}"
    over = b'{"a": [' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1) + b"]}"
    body = b'[{"a": 1}, ' + b"[" * 50_000 + b"]" * 50_000 + b", " + at_bound + b", " + over + b', "last"]'
    read = rows(write(tmp_path, body), "json")
    assert read[:2] == [(1, {"a": 1}), (2, TOO_DEEP)]
    assert read[2][0] == 3 and not isinstance(read[2][1], RowError)
    assert read[3:] == [(4, TOO_DEEP), (5, "last")]


def test_json_whose_top_level_is_not_an_array(tmp_path: Path) -> None:
    [(number, error)] = rows(write(tmp_path, b'  {"data": [1, 2]}'), "json")
    assert (number, error) == (
        1,
        RowError(reason="the file is not a JSON array: its top-level value does not start with '['"),
    )
    assert rows(write(tmp_path, b"  \n"), "json") == []


# --- Parquet --------------------------------------------------------------------------------------------------------


def test_parquet_with_a_nested_conversations_column(tmp_path: Path) -> None:
    count = PARQUET_BATCH_ROWS + 5  # more than one batch: numbers run on across batches
    turn = pa.struct([("from", pa.string()), ("value", pa.string())])
    chats = [
        [{"from": "human", "value": f"Question {n}?"}, {"from": "gpt", "value": f"Answer {n}."}] for n in range(count)
    ]
    table = pa.table(
        {"id": list(range(count)), "conversations": pa.array(chats, pa.list_(turn)), "note": [None] * count}
    )
    read = rows(write_parquet(tmp_path, table, row_group_size=1000), "parquet")
    assert [number for number, _ in read] == list(range(1, count + 1))
    assert read[-1][1] == {"id": count - 1, "conversations": chats[-1], "note": None}
    task = parse_row(read[0][1], "sharegpt", ImportSpec(source="chats"), SeedLimits(), {"line": 1})
    assert (task.instruction, task.instances) == ("Question 0?", (Instance(output="Answer 0."),))
    assert task.provenance == {"line": 1, "layout": "sharegpt", "metadata": {"id": 0, "note": None}}


def test_unreadable_parquet_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, b"PAR1" + b"\0" * 100 + b"PAR1", "bad.parquet")
    assert sniff_format(path) == "parquet"
    with pytest.raises(InvalidInputError) as raised:
        rows(path, "parquet")
    assert raised.value.code == "invalid_upload"
    assert raised.value.detail.startswith("the file is not readable as Parquet")


def test_parquet_nested_too_deeply_is_refused(tmp_path: Path) -> None:
    deep: pa.DataType = pa.int64()
    for _ in range(60):  # pyarrow refuses Parquet schemas nested deeper than 100 Parquet levels (~50 lists)
        deep = pa.list_(deep)
    path = write_parquet(tmp_path, pa.table({"x": pa.array([None], deep)}))
    with pytest.raises(InvalidInputError) as raised:
        rows(path, "parquet")
    assert raised.value.code == "invalid_upload" and "too deeply nested" in raised.value.detail


# --- memory ---------------------------------------------------------------------------------------------------------


def big_rows(count: int) -> list[dict[str, Any]]:
    return [
        {"instruction": f"Task {n}: summarise the text.", "input": "word " * 60, "output": "x" * 200}
        for n in range(count)
    ]


@pytest.mark.parametrize("file_format", ["jsonl", "json"])
def test_memory_stays_flat_whatever_the_file_size(tmp_path: Path, file_format: str) -> None:
    count = 20_000
    lines = [msgspec.json.encode(row) for row in big_rows(count)]
    path = write(tmp_path, b"\n".join(lines) if file_format == "jsonl" else b"[" + b",\n".join(lines) + b"]")
    size = path.stat().st_size
    tracemalloc.start()
    try:
        read = sum(1 for _, value in iter_rows(path, file_format) if not isinstance(value, RowError))  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert read == count
    assert size > 10_000_000 and peak < size / 20  # a line or a read buffer at a time, not the file


def test_gzip_files_are_read_as_they_stream(tmp_path: Path) -> None:
    import gzip

    rows = [{"instruction": f"Row {n}", "output": "x"} for n in range(3)]
    lines, array = tmp_path / "rows.jsonl.gz", tmp_path / "rows.json.gz"
    with gzip.open(lines, "wb") as out:
        out.write(b"".join(json.dumps(r).encode() + b"\n" for r in rows))
    with gzip.open(array, "wb") as out:
        out.write(b"  " + json.dumps(rows).encode())
    assert (sniff_format(lines), sniff_format(array)) == ("jsonl", "json")
    assert list(iter_rows(lines, "jsonl")) == list(enumerate(rows, start=1))
    assert list(iter_rows(array, "json")) == list(enumerate(rows, start=1))


def test_a_line_past_the_bound_is_a_row_error_and_the_next_lines_still_read(tmp_path: Path, monkeypatch) -> None:
    from store.ingest import readers

    monkeypatch.setattr(readers, "MAX_LINE_BYTES", 64)
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"a": 1}\n{"a": "' + b"x" * 500 + b'"}\n{"a": 3}\n' + b'{"a": "' + b"y" * 200)
    rows = list(iter_rows(path, "jsonl"))
    assert [n for n, _ in rows] == [1, 2, 3, 4]
    assert rows[0][1] == {"a": 1} and rows[2][1] == {"a": 3}
    assert "longer than 64 bytes" in rows[1][1].reason and "longer than 64 bytes" in rows[3][1].reason
