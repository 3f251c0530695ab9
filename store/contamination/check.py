"""Benchmark decontamination: which tasks share text with a registered reference benchmark.

A benchmark is a JSON Lines file (HumanEval, MBPP, ...); every string value in a record, nested ones
included, is one benchmark text. Texts are normalised as fingerprints are (`domain.fingerprint`: NFKC,
case-folded, words of letters and digits, punctuation dropped). A task's texts are its instruction and
each instance's input and output. Two checks, per text:

ngram      the task text shares one word n-gram with the benchmark (n = 13 by default, as lm-eval-harness
           and NeMo Curator use). Texts shorter than n words take part only in the substring check.
substring  a task text contains a whole benchmark text, or a benchmark text contains a whole task text,
           word-aligned, where the contained text is at least `MIN_SUBSTRING_CHARS` (50) characters and
           `ANCHOR_WORDS` (4) words long after normalisation, so short strings ("return x", "True") do
           not match everything.

Word n-grams are hashed to 64 bits: each word by BLAKE2b, a window by a polynomial over those (wrapping
in uint64, computed by Arrow's vectorised kernels). Registration stores the distinct n-gram hashes; a
check hashes the task texts chunk by chunk into Arrow tables and joins them against the benchmark in
DuckDB. For substrings, each long-enough benchmark text is stored with its rarest 4-word window (the
anchor): a task text can contain it only if it has that window. A task text can sit inside a benchmark
text only if every one of its 4-word windows occurs in the benchmark; the candidates either way are
confirmed with an exact `contains` on the normalised texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from domain.errors import ConflictError, NotFoundError
from store.contamination.benchmarks import HASH_VERSION, SELECT_BENCHMARKS
from store.contamination.ngrams import (
    ANCHOR_WORDS,
    MIN_SUBSTRING_CHARS,
    Tokens,
    Vocabulary,
    substring_eligible,
    tokenize,
    window_hashes,
)

if TYPE_CHECKING:
    from store.database import Store

MatchKind = Literal["ngram", "substring"]
CHECK_CHUNK_TASKS = 20_000

_CHUNK_END = """
    SELECT max(id), count(*) FROM (
        SELECT id FROM tasks WHERE dataset_id = ? AND id > ? {selection} ORDER BY id LIMIT ?
    )
"""
_CHUNK_TEXTS = """
    SELECT id AS task_id, instruction AS text FROM tasks
    WHERE dataset_id = $1 AND id > $2 AND id <= $3 {selection}
    UNION ALL
    SELECT task_id, unnest([input, output]) FROM instances
    WHERE dataset_id = $1 AND task_id > $2 AND task_id <= $3 {instance_selection}
"""
_NGRAM_MATCHES = """
    SELECT DISTINCT c.task_id, g.benchmark_id FROM chunk_ngrams c
    JOIN benchmark_ngrams g ON g.hash = c.hash
    WHERE g.benchmark_id IN (SELECT id FROM chosen_benchmarks WHERE ngram = ?)
"""
# A task text that contains a benchmark text holds that text's anchor window. The anchor join comes first,
# materialised: it leaves few pairs, and only those are compared as strings (left to the planner, DuckDB
# joined the task texts to every window first: 10-20 s per chunk of 20k tasks with long outputs).
_CONTAINS_BENCHMARK_TEXT = """
    WITH anchored AS MATERIALIZED (
        SELECT DISTINCT c.text_no, t.benchmark_id, t.text_id FROM chunk_grams c
        JOIN benchmark_texts t ON t.anchor = c.hash
        WHERE t.benchmark_id IN (SELECT id FROM chosen_benchmarks)
    )
    SELECT DISTINCT r.task_id, a.benchmark_id FROM anchored a
    JOIN chunk_texts r ON r.text_no = a.text_no
    JOIN benchmark_texts t ON t.benchmark_id = a.benchmark_id AND t.text_id = a.text_id
    WHERE r.chars >= t.chars AND contains(' ' || r.text || ' ', ' ' || t.text || ' ')
"""
# A task text inside a benchmark text: every one of its windows (repeats counted) occurs in the benchmark;
# the benchmark texts holding its rarest window are the candidates.
_INSIDE_BENCHMARK_TEXT = """
    WITH hits AS (
        SELECT c.text_no, f.benchmark_id, count(*) AS windows, arg_min(c.hash, f.texts) AS anchor
        FROM chunk_grams c JOIN chosen_grams f ON f.hash = c.hash GROUP BY ALL
    )
    SELECT DISTINCT r.task_id, h.benchmark_id FROM hits h
    JOIN chunk_texts r ON r.text_no = h.text_no AND r.windows = h.windows
    JOIN benchmark_grams g ON g.benchmark_id = h.benchmark_id AND g.hash = h.anchor
    JOIN benchmark_texts t ON t.benchmark_id = g.benchmark_id AND t.text_id = g.text_id
    WHERE t.chars >= r.chars AND contains(' ' || t.text || ' ', ' ' || r.text || ' ')
"""
# How many texts of each chosen benchmark hold each window (read once per check).
_CHOSEN_GRAMS = """
    SELECT benchmark_id, hash, count(*) AS texts FROM benchmark_grams
    WHERE benchmark_id IN (SELECT id FROM chosen_benchmarks) GROUP BY ALL
"""


class BenchmarkMatches(msgspec.Struct, frozen=True, kw_only=True):
    benchmark: str
    ngram: int
    tasks: int  # contaminated tasks, either kind
    ngram_tasks: int
    substring_tasks: int
    task_ids: tuple[int, ...]


class TaskMatch(msgspec.Struct, frozen=True, kw_only=True):
    """A contaminated task's first match: benchmarks in the order checked, substring before ngram."""

    task_id: int
    benchmark: str
    kind: MatchKind


class ContaminationReport(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    tasks_checked: int
    texts_checked: int
    min_substring_chars: int
    benchmarks: tuple[BenchmarkMatches, ...]
    contaminated_task_ids: tuple[int, ...]
    matches: tuple[TaskMatch, ...]


# ---- registry ----------------------------------------------------------------------------------------


class _Chosen(msgspec.Struct, frozen=True):
    id: int
    name: str
    ngram: int


def _choose(cur, names: Sequence[str] | None) -> list[_Chosen]:
    """The benchmarks to check, in the order given (all of them by name when None)."""
    rows = {row[1]: row for row in cur.execute(SELECT_BENCHMARKS + " ORDER BY name").fetchall()}
    wanted = list(rows) if names is None else list(dict.fromkeys(names))
    missing = [name for name in wanted if name not in rows]
    if missing:
        raise NotFoundError(
            f"no benchmark named {missing[0]!r}", code="benchmark_not_found", extra={"missing": missing}
        )
    stale = [name for name in wanted if rows[name][4] != HASH_VERSION]
    if stale:
        raise ConflictError(
            f"benchmark {stale[0]!r} was hashed by an older version; delete and register it again",
            code="benchmark_outdated",
            extra={"outdated": stale},
        )
    return [_Chosen(rows[name][0], name, rows[name][2]) for name in wanted]


def _select_tasks(cur, task_ids: Sequence[int] | None) -> tuple[str, str]:
    """SQL restricting tasks and instances to `task_ids` (an Arrow table behind a semi join, not an IN list)."""
    if task_ids is None:
        return "", ""
    cur.register("contamination_selection", pa.table({"id": pa.array(task_ids, pa.int64())}))
    return tuple(f"AND {column} IN (SELECT id FROM contamination_selection)" for column in ("id", "task_id"))


def _ngram_hits(cur, tokens: Tokens, task_ids: pa.Array, ngram_sizes: set[int]) -> set[tuple[int, int, MatchKind]]:
    hits: set[tuple[int, int, MatchKind]] = set()
    for n in sorted(ngram_sizes):
        hashes, owners = window_hashes(tokens, n)
        cur.register("chunk_ngrams", pa.table({"task_id": pc.take(task_ids, owners), "hash": hashes}))
        hits.update((task, bench, "ngram") for task, bench in cur.execute(_NGRAM_MATCHES, [n]).fetchall())
        cur.unregister("chunk_ngrams")
    return hits


def _substring_hits(cur, tokens: Tokens, task_ids: pa.Array) -> set[tuple[int, int, MatchKind]]:
    eligible = substring_eligible(tokens)
    text_nos = pa.array([i for i, ok in enumerate(eligible) if ok], pa.int64())
    if not len(text_nos):
        return set()
    grams, owners = window_hashes(tokens, ANCHOR_WORDS)
    keep = pc.take(pa.array(eligible), owners)
    cur.register("chunk_grams", pa.table({"text_no": pc.filter(owners, keep), "hash": pc.filter(grams, keep)}))
    texts = [tokens.normalized[i] for i in text_nos.to_pylist()]
    windows = [tokens.words[i] - ANCHOR_WORDS + 1 for i in text_nos.to_pylist()]
    cur.register(
        "chunk_texts",
        pa.table(
            {
                "text_no": text_nos,
                "task_id": pc.take(task_ids, text_nos),
                "text": texts,
                "chars": pa.array([len(text) for text in texts], pa.int32()),
                "windows": pa.array(windows, pa.int64()),
            }
        ),
    )
    hits: set[tuple[int, int, MatchKind]] = set()
    for sql in (_CONTAINS_BENCHMARK_TEXT, _INSIDE_BENCHMARK_TEXT):
        hits.update((task, bench, "substring") for task, bench in cur.execute(sql).fetchall())
    cur.unregister("chunk_grams")
    cur.unregister("chunk_texts")
    return hits


class _Scan(msgspec.Struct):
    """What a check has seen so far: its position (the last task id), counts and hits."""

    after: int = 0
    tasks: int = 0
    texts: int = 0
    hits: set[tuple[int, int, MatchKind]] = msgspec.field(default_factory=set)


def _scan(cur, dataset_id: str, chosen: list[_Chosen], task_ids: Sequence[int] | None, chunk_tasks: int) -> _Scan:
    """Check the selected tasks chunk by chunk (`chunk_tasks` at a time, in id order)."""
    cur.register("chosen_benchmarks", pa.table({"id": [c.id for c in chosen], "ngram": [c.ngram for c in chosen]}))
    cur.register("chosen_grams", cur.sql(_CHOSEN_GRAMS).to_arrow_table())
    tasks, instances = _select_tasks(cur, task_ids)
    texts_sql = _CHUNK_TEXTS.format(selection=tasks, instance_selection=instances)
    vocabulary: dict[str, int] = Vocabulary()
    scan = _Scan()
    while True:
        end, count = cur.execute(_CHUNK_END.format(selection=tasks), [dataset_id, scan.after, chunk_tasks]).fetchall()[
            0
        ]
        if not count:
            return scan
        rows = cur.sql(texts_sql, params=[dataset_id, scan.after, end]).to_arrow_table()
        chunk_task_ids = rows["task_id"].combine_chunks()
        tokens = tokenize(rows["text"].to_pylist(), vocabulary)
        scan.hits |= _ngram_hits(cur, tokens, chunk_task_ids, {c.ngram for c in chosen})
        scan.hits |= _substring_hits(cur, tokens, chunk_task_ids)
        scan.tasks += count
        scan.texts += sum(1 for words in tokens.words if words)
        scan.after = end


def find_contamination(
    store: Store,
    dataset_id: str,
    task_ids: Sequence[int] | None = None,
    *,
    benchmarks: Sequence[str] | None = None,
    chunk_tasks: int = CHECK_CHUNK_TASKS,
) -> ContaminationReport:
    """Check the dataset's tasks (or those among `task_ids`; others are ignored) against the benchmarks.

    `benchmarks` names them in the order their matches take precedence; None checks all, by name.
    """
    from store.datasets import require_dataset  # not at the top: store.migrations imports this module

    with store.read() as cur:
        require_dataset(cur, dataset_id)
        chosen = _choose(cur, benchmarks)
        scan = _scan(cur, dataset_id, chosen, task_ids, chunk_tasks) if chosen else _Scan()
    return _report(dataset_id, chosen, scan)


def _report(dataset_id: str, chosen: list[_Chosen], scan: _Scan) -> ContaminationReport:
    rank = {c.id: n for n, c in enumerate(chosen)}
    first: dict[int, tuple[int, int, MatchKind]] = {}
    for hit in sorted(scan.hits, key=lambda h: (h[0], rank[h[1]], h[2] != "substring")):
        first.setdefault(hit[0], hit)
    summaries = []
    for c in chosen:
        by_kind = {kind: {t for t, b, k in scan.hits if b == c.id and k == kind} for kind in ("ngram", "substring")}
        either = by_kind["ngram"] | by_kind["substring"]
        summaries.append(
            BenchmarkMatches(
                benchmark=c.name,
                ngram=c.ngram,
                tasks=len(either),
                ngram_tasks=len(by_kind["ngram"]),
                substring_tasks=len(by_kind["substring"]),
                task_ids=tuple(sorted(either)),
            )
        )
    names = {c.id: c.name for c in chosen}
    return ContaminationReport(
        dataset_id=dataset_id,
        tasks_checked=scan.tasks,
        texts_checked=scan.texts,
        min_substring_chars=MIN_SUBSTRING_CHARS,
        benchmarks=tuple(summaries),
        contaminated_task_ids=tuple(first),
        matches=tuple(TaskMatch(task_id=t, benchmark=names[b], kind=k) for t, b, k in first.values()),
    )
