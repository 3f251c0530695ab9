"""Dataset statistics, aggregated by DuckDB (never by loading rows into Python).

One scan of `tasks` yields the counts by source, category and classification and the histogram of
instruction lengths (GROUPING SETS); one scan of `instances` yields the input and output length
histograms. Exact nearest-rank percentiles then come from those histograms, which hold one row per
distinct length: a few thousand rows whatever the dataset's size.

Per source (`sources`: seed, generated, each import): tasks, instances and unanswered tasks (no instance yet,
the balance report's count). Instances by source need the instances joined to their tasks: one hash join
(18-20 ms at 1M tasks on the 2-core machine); the unanswered count is 2 ms when every task has an answer,
15-30 ms with 100k unanswered. `dataset_stats` at 1M tasks: 21 ms before, 44-55 ms with them (best and
median of 15).

With the balance report (`dataset_report`, the default `GET /stats`), the report's counts come from the same
scan of `tasks` (two more grouping sets: words, source x category; the words stored at ingest, `store.words`)
and its root verbs from a cache keyed by the tasks they were read from (`dataset_verbs`, `store.memo`). At 1M
tasks through HTTP (`bench/store_bench.py --stats-only`, 2-core machine, shared): median 79 ms with the
report, 64 ms without; the first call after a change to the tasks re-reads the verb sample (~0.2-0.6 s).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import duckdb
import msgspec

from domain.quality import LabelStats
from store.balance.report import (
    BalanceCounts,
    BalanceReport,
    assemble_report,
    dataset_verbs,
    length_band,
    unanswered_by_source,
)
from store.code_checks import CodeStats, code_stats
from store.database import Store
from store.datasets import require_dataset
from store.quality import QualityStats, quality_stats

DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")


class LengthSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Lengths in characters; percentiles are nearest-rank (always an observed length)."""

    min: int
    p50: int
    p90: int
    p99: int
    max: int
    mean: float


class ClassificationShare(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    share: float


class SourceCounts(msgspec.Struct, frozen=True, kw_only=True):
    tasks: int
    instances: int
    unanswered: int  # tasks with no instance yet (imported instructions an annotate job may answer)


class DatasetStats(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    tasks: int
    instances: int
    instances_with_input: int
    by_source: dict[str, int]
    by_category: dict[str, int]
    classification: ClassificationShare
    lengths: dict[str, LengthSummary | None]  # instruction, input, output; None when there is nothing
    duplicates_skipped: int
    rejections: int
    rejections_by_reason: dict[str, int]
    balance: BalanceReport | None = None  # shares, evenness and warnings per dimension
    code: CodeStats | None = None  # datasets with code tasks: the sandbox's verdicts
    quality: QualityStats | None = None  # datasets with judged tasks: the judge's scores
    labels: LabelStats | None = None  # how far the category labels can be trusted (with the balance report)
    unanswered: int = 0  # tasks with no instance yet, every source together
    sources: dict[str, SourceCounts] = msgspec.field(default_factory=dict)  # in the order of `by_source`


# GROUPING() bit patterns over (source, category, is_classification, instruction_chars, instruction_words): the
# columns a row is grouped by have their bits clear. The balance report's sets (words, source x category) ride on
# the same scan when it is asked for; without them the words column is not grouped, so its bit is set.
_BY_SOURCE, _BY_CATEGORY, _BY_CLASSIFICATION, _BY_INSTRUCTION_CHARS = 0b01111, 0b10111, 0b11011, 0b11101
_BY_WORDS, _BY_SOURCE_CATEGORY = 0b11110, 0b00111
_TASK_GROUPS = """
    SELECT GROUPING(source, category, is_classification, instruction_chars) * 2 + 1, source, category,
           is_classification, instruction_chars, NULL, count(*), max(id)
    FROM tasks WHERE dataset_id = ?
    GROUP BY GROUPING SETS ((source), (category), (is_classification), (instruction_chars))
"""
_TASK_GROUPS_WITH_BALANCE = """
    SELECT GROUPING(source, category, is_classification, instruction_chars, instruction_words), source, category,
           is_classification, instruction_chars, instruction_words, count(*), max(id)
    FROM tasks WHERE dataset_id = ?
    GROUP BY GROUPING SETS ((source, category), (is_classification), (instruction_chars), (instruction_words))
"""  # the (source) and (category) rows are summed from the pairs (`_with_marginals`): 4 sets, not 6
_INSTANCE_GROUPS = """
    SELECT GROUPING(input_chars, output_chars), input_chars, output_chars, count(*)
    FROM instances WHERE dataset_id = ?
    GROUP BY GROUPING SETS ((input_chars), (output_chars))
"""
_REJECTIONS = "SELECT reason, count(*) FROM rejections WHERE dataset_id = ? GROUP BY reason"
_SOURCE_INSTANCES = """
    SELECT t.source, count(*) FROM instances i JOIN tasks t ON t.id = i.task_id
    WHERE i.dataset_id = ? AND t.dataset_id = ? AND t.source <> ? GROUP BY t.source
"""  # task ids are unique across datasets: joining on (id, dataset_id) too measured 4x slower


def summarize_lengths(histogram: Sequence[tuple[int, int]]) -> LengthSummary | None:
    """(length, count) pairs -> min, nearest-rank p50/p90/p99, max and mean."""
    ordered = sorted(pair for pair in histogram if pair[1] > 0)
    if not ordered:
        return None
    total = sum(count for _, count in ordered)
    ranks = {q: max(1, math.ceil(total * q)) for q in (0.5, 0.9, 0.99)}
    found: dict[float, int] = {}
    seen = 0
    for length, count in ordered:
        seen += count
        for q, rank in ranks.items():
            if q not in found and seen >= rank:
                found[q] = length
    mean = sum(length * count for length, count in ordered) / total
    return LengthSummary(
        min=ordered[0][0], p50=found[0.5], p90=found[0.9], p99=found[0.99], max=ordered[-1][0], mean=round(mean, 2)
    )


def _sorted_counts(counts: dict[str, int]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda item: (-item[1], item[0])))


class _Reads(msgspec.Struct, frozen=True):
    tasks: list[tuple]
    instances: list[tuple]
    rejections: dict[str, int]
    instances_by_source: dict[str, int]
    unanswered: dict[str, int]


def _instances_by_source(cur, dataset_id: str, task_rows: list[tuple], instance_rows: list[tuple]) -> dict[str, int]:
    """Every instance of a dataset is of one of its tasks, so the largest source's share is the total less the
    others': the join reads only the other sources' tasks (none with one source; 29 -> 19 ms at 1M with two)."""
    sources = {r[1]: r[6] for r in task_rows if r[0] == _BY_SOURCE}
    if not sources:
        return {}
    largest = max(sources, key=lambda key: sources[key])
    others = {}
    if len(sources) > 1:
        others = dict(cur.execute(_SOURCE_INSTANCES, [dataset_id, dataset_id, largest]).fetchall())
    total = sum(r[3] for r in instance_rows if r[0] == 0b10)  # the output-length histogram counts every instance
    return {**others, largest: total - sum(others.values())}


def _with_marginals(task_rows: list[tuple]) -> list[tuple]:
    """The rows plus (source) and (category) rows summed from the (source, category) ones."""
    sums: dict[tuple[int, str], list[int]] = {}
    for r in task_rows:
        if r[0] == _BY_SOURCE_CATEGORY:
            for key in ((_BY_SOURCE, r[1]), (_BY_CATEGORY, r[2])):
                count, last = sums.setdefault(key, [0, 0])
                sums[key] = [count + r[6], max(last, r[7])]
    extra = [(bits, key if bits == _BY_SOURCE else None, key if bits == _BY_CATEGORY else None, None, None, None,
              count, last) for (bits, key), (count, last) in sums.items()]  # fmt: skip
    return task_rows + extra


def _read(cur, dataset_id: str, with_balance: bool) -> _Reads:
    require_dataset(cur, dataset_id)
    if with_balance:
        tasks = _with_marginals(cur.execute(_TASK_GROUPS_WITH_BALANCE, [dataset_id]).fetchall())
    else:
        tasks = cur.execute(_TASK_GROUPS, [dataset_id]).fetchall()
    instances = cur.execute(_INSTANCE_GROUPS, [dataset_id]).fetchall()
    return _Reads(
        tasks=tasks,
        instances=instances,
        rejections=_sorted_counts(dict(cur.execute(_REJECTIONS, [dataset_id]).fetchall())),
        instances_by_source=_instances_by_source(cur, dataset_id, tasks, instances),
        unanswered=unanswered_by_source(cur, dataset_id),
    )


def _stats_of(dataset_id: str, reads: _Reads) -> DatasetStats:
    task_rows, by_reason, unanswered = reads.tasks, reads.rejections, reads.unanswered
    by_source = _sorted_counts({r[1]: r[6] for r in task_rows if r[0] == _BY_SOURCE})
    sources = {
        key: SourceCounts(
            tasks=count, instances=reads.instances_by_source.get(key, 0), unanswered=unanswered.get(key, 0)
        )
        for key, count in by_source.items()
    }
    classification = sum(r[6] for r in task_rows if r[0] == _BY_CLASSIFICATION and r[3])
    tasks = sum(by_source.values())
    inputs = [(r[1], r[3]) for r in reads.instances if r[0] == 0b01]
    outputs = [(r[2], r[3]) for r in reads.instances if r[0] == 0b10]
    return DatasetStats(
        dataset_id=dataset_id,
        tasks=tasks,
        instances=sum(count for _, count in outputs),
        instances_with_input=sum(count for length, count in inputs if length > 0),
        by_source=by_source,
        by_category=_sorted_counts({r[2]: r[6] for r in task_rows if r[0] == _BY_CATEGORY}),
        classification=ClassificationShare(
            count=classification, share=round(classification / tasks, 4) if tasks else 0.0
        ),
        lengths={
            "instruction": summarize_lengths([(r[4], r[6]) for r in task_rows if r[0] == _BY_INSTRUCTION_CHARS]),
            "input": summarize_lengths(inputs),
            "output": summarize_lengths(outputs),
        },
        duplicates_skipped=sum(by_reason.get(reason, 0) for reason in DUPLICATE_REASONS),
        rejections=sum(by_reason.values()),
        rejections_by_reason=by_reason,
        unanswered=sum(unanswered.values()),
        sources=sources,
    )


def _balance_counts(task_rows: list[tuple]) -> BalanceCounts:
    """The balance report's counts, from the stats' scan with the balance sets."""
    classification = {bool(r[3]): r[6] for r in task_rows if r[0] == _BY_CLASSIFICATION}
    bands: dict[str, int] = {}
    for r in task_rows:
        if r[0] == _BY_WORDS:
            bands[length_band(r[5])] = bands.get(length_band(r[5]), 0) + r[6]
    by_source: dict[str, dict[str, int]] = {}
    for r in task_rows:
        if r[0] == _BY_SOURCE_CATEGORY:
            by_source.setdefault(r[1], {})[r[2]] = r[6]
    return BalanceCounts(
        categories={r[2]: r[6] for r in task_rows if r[0] == _BY_CATEGORY},
        classification={"classification": classification.get(True, 0), "other": classification.get(False, 0)},
        sources={r[1]: r[6] for r in task_rows if r[0] == _BY_SOURCE},
        bands=bands,
        categories_by_source=by_source,
        max_id=max((r[7] for r in task_rows if r[0] == _BY_SOURCE), default=0),
    )


@contextmanager
def _snapshot(store: Store) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read cursor in one transaction: every figure (and the verb cache's key) from the same committed state."""
    with store.read() as cur:
        cur.execute("BEGIN TRANSACTION")
        try:
            yield cur
        finally:
            cur.execute("COMMIT")  # reads only: nothing to keep or undo


def dataset_stats(store: Store, dataset_id: str) -> DatasetStats:
    with _snapshot(store) as cur:
        return _stats_of(dataset_id, _read(cur, dataset_id, with_balance=False))


STATS_VERB_SAMPLE = 2_000  # verbs parsed for the stats' balance report; the balance endpoint reads more


def dataset_report(store: Store, dataset_id: str, *, share_limit: float, with_balance: bool = True) -> DatasetStats:
    """The statistics with the balance report and, where the dataset has code tasks, the code figures.

    The balance report's counts come from the stats' own scan of `tasks` and its verb analysis from a cache
    (`store.balance.report.dataset_verbs`): the report costs the stats a few grouping sets, not a second scan.
    """
    balance = None
    with _snapshot(store) as cur:
        reads = _read(cur, dataset_id, with_balance)
        if with_balance:
            counts = _balance_counts(reads.tasks)
            verbs = dataset_verbs(cur, store, dataset_id, counts, STATS_VERB_SAMPLE)
            balance = assemble_report(dataset_id, counts, verbs, reads.unanswered, share_limit)
    code = code_stats(store, dataset_id)
    quality = quality_stats(store, dataset_id)
    return msgspec.structs.replace(
        _stats_of(dataset_id, reads), balance=balance, code=code if code.executed or code.verified_tasks else None,
        quality=quality if quality.outcomes else None,
    )  # fmt: skip
