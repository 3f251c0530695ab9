"""Reference benchmarks for decontamination: register, list, get and delete them.

A benchmark is a JSON Lines file (HumanEval, MBPP, ...); every string value in a record, nested ones
included, is one benchmark text. Registration normalises and hashes the texts (`store.contamination.ngrams`) and stores,
in one transaction, the distinct word n-gram hashes, the texts long enough for the substring check with
their rarest 4-word window (the anchor), and every distinct 4-word window of those texts.
`store.contamination.check` checks a dataset against what is stored here.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import ConflictError, InvalidInputError, NotFoundError
from domain.names import check_name
from store.contamination.ngrams import (
    ANCHOR_WORDS,
    MIN_SUBSTRING_CHARS,
    json_texts,
    substring_eligible,
    tokenize,
    window_hashes,
)

if TYPE_CHECKING:
    from store.database import Store

DEFAULT_NGRAM = 13
HASH_VERSION = 1  # bump when tokenisation or hashing changes: stored benchmarks must then be re-registered
NGRAM_RANGE = (1, 64)
_MAX_REPORTED_ERRORS = 100

_BENCHMARK_TABLES = ("benchmark_ngrams", "benchmark_texts", "benchmark_grams", "benchmarks")

_INSERT_BENCHMARK = """
    INSERT INTO benchmarks (name, ngram, min_substring_chars, hash_version, records, texts, ngrams, substring_texts)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id
"""
SELECT_BENCHMARKS = """
    SELECT id, name, ngram, min_substring_chars, hash_version, records, texts, ngrams, substring_texts, created_at
    FROM benchmarks
"""


class BenchmarkInfo(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    ngram: int
    min_substring_chars: int
    records: int  # JSON lines
    texts: int  # string values with at least one word
    ngrams: int  # distinct n-gram hashes
    substring_texts: int  # distinct texts long enough for the substring check
    created_at: datetime


class _PreparedBenchmark(msgspec.Struct, frozen=True):
    records: int
    texts: int
    ngrams: pa.Table  # hash
    substring_texts: pa.Table  # text_id, text, chars, anchor
    grams: pa.Table  # text_id, hash


def parse_benchmark(jsonl: bytes) -> tuple[int, list[str]]:
    """(record count, every string value) of a JSON Lines upload; all bad lines in one InvalidInputError."""
    records, texts, errors, lines = 0, [], [], 0
    for number, line in enumerate(jsonl.split(b"\n"), start=1):
        if not line.strip():
            continue
        lines += 1
        try:
            obj = msgspec.json.decode(line)
        except msgspec.DecodeError as exc:
            errors.append({"line": number, "reason": f"invalid JSON: {exc}"})
            continue
        except RecursionError:  # msgspec decodes recursively: ~1,000 levels raise instead of failing
            errors.append({"line": number, "reason": "invalid JSON: nested too deeply to decode"})
            continue
        if not isinstance(obj, dict):
            errors.append({"line": number, "reason": f"expected a JSON object, got {type(obj).__name__}"})
            continue
        records += 1
        texts.extend(json_texts(obj))
    if errors:
        raise InvalidInputError(
            f"{len(errors)} of {lines} lines are invalid; nothing was stored",
            code="invalid_benchmark",
            extra={"error_count": len(errors), "errors": errors[:_MAX_REPORTED_ERRORS]},
        )
    if not records:
        raise InvalidInputError("the benchmark holds no records", code="empty_benchmark")
    return records, texts


def _anchors(grams: pa.Array, owners: pa.Array) -> tuple[dict[int, int], list[tuple[int, int]]]:
    """Each text's rarest window across the benchmark's texts (first on ties), and the distinct pairs."""
    pairs = list(dict.fromkeys(zip(owners.to_pylist(), grams.to_pylist(), strict=True)))
    frequency = Counter(gram for _, gram in pairs)
    anchors: dict[int, int] = {}
    for text_id, gram in pairs:
        if text_id not in anchors or frequency[gram] < frequency[anchors[text_id]]:
            anchors[text_id] = gram
    return anchors, pairs


def prepare_benchmark(jsonl: bytes, ngram: int) -> _PreparedBenchmark:
    records, texts = parse_benchmark(jsonl)
    tokens = tokenize(texts)
    ngram_hashes, _ = window_hashes(tokens, ngram)
    eligible = substring_eligible(tokens)
    distinct = list(dict.fromkeys(t for t, ok in zip(tokens.normalized, eligible, strict=True) if ok))
    anchors, pairs = _anchors(*window_hashes(tokenize(distinct), ANCHOR_WORDS))
    return _PreparedBenchmark(
        records=records,
        texts=sum(1 for words in tokens.words if words),
        ngrams=pa.table({"hash": pc.unique(ngram_hashes)}),
        substring_texts=pa.table(
            {
                "text_id": pa.array(range(len(distinct)), pa.int32()),
                "text": distinct,
                "chars": pa.array([len(text) for text in distinct], pa.int32()),
                "anchor": pa.array([anchors[i] for i in range(len(distinct))], pa.int64()),
            }
        ),
        grams=pa.table(
            {
                "text_id": pa.array([p[0] for p in pairs], pa.int32()),
                "hash": pa.array([p[1] for p in pairs], pa.int64()),
            }
        ),
    )


def _check_registration(name: str, ngram: int) -> str:
    check_name(name, "benchmark name")  # a name that can be read and deleted as it was registered
    low, high = NGRAM_RANGE
    if not low <= ngram <= high:
        raise InvalidInputError(f"ngram must be between {low} and {high}", code="invalid_benchmark")
    return name


def register_benchmark(store: Store, name: str, jsonl: bytes, *, ngram: int = DEFAULT_NGRAM) -> BenchmarkInfo:
    """Parse, hash and store a reference benchmark; every line must be a JSON object, else nothing is stored."""
    name = _check_registration(name, ngram)
    prepared = prepare_benchmark(jsonl, ngram)  # the Python work, before the write lock
    with store.write() as cur:
        if cur.execute("SELECT 1 FROM benchmarks WHERE name = ?", [name]).fetchall():
            raise ConflictError(f"a benchmark named {name!r} already exists", code="benchmark_exists")
        counts = [prepared.records, prepared.texts, prepared.ngrams.num_rows, prepared.substring_texts.num_rows]
        params = [name, ngram, MIN_SUBSTRING_CHARS, HASH_VERSION, *counts]
        benchmark_id = cur.execute(_INSERT_BENCHMARK, params).fetchall()[0][0]
        for table, rows, columns in (
            ("benchmark_ngrams", prepared.ngrams, "hash"),
            ("benchmark_texts", prepared.substring_texts, "text_id, text, chars, anchor"),
            ("benchmark_grams", prepared.grams, "text_id, hash"),
        ):
            cur.register("incoming_benchmark", rows)
            cur.execute(
                f"INSERT INTO {table} (benchmark_id, {columns}) SELECT ?, {columns} FROM incoming_benchmark",
                [benchmark_id],
            )
            cur.unregister("incoming_benchmark")
    return get_benchmark(store, name)


def _row_to_info(row: tuple) -> BenchmarkInfo:
    return BenchmarkInfo(
        name=row[1],
        ngram=row[2],
        min_substring_chars=row[3],
        records=row[5],
        texts=row[6],
        ngrams=row[7],
        substring_texts=row[8],
        created_at=row[9],
    )


def get_benchmark(store: Store, name: str) -> BenchmarkInfo:
    with store.read() as cur:
        rows = cur.execute(SELECT_BENCHMARKS + " WHERE name = ?", [name]).fetchall()
    if not rows:
        raise NotFoundError(f"no benchmark named {name!r}", code="benchmark_not_found")
    return _row_to_info(rows[0])


def list_benchmarks(store: Store) -> tuple[BenchmarkInfo, ...]:
    with store.read() as cur:
        rows = cur.execute(SELECT_BENCHMARKS + " ORDER BY name").fetchall()
    return tuple(_row_to_info(row) for row in rows)


def delete_benchmark(store: Store, name: str) -> None:
    with store.write() as cur:
        rows = cur.execute("SELECT id FROM benchmarks WHERE name = ?", [name]).fetchall()
        if not rows:
            raise NotFoundError(f"no benchmark named {name!r}", code="benchmark_not_found")
        for table in _BENCHMARK_TABLES:
            column = "id" if table == "benchmarks" else "benchmark_id"
            cur.execute(f"DELETE FROM {table} WHERE {column} = ?", [rows[0][0]])
