"""Dataset statistics, aggregated by DuckDB (never by loading rows into Python).

One scan of `tasks` yields the counts by source, category and classification and the histogram of
instruction lengths (GROUPING SETS); one scan of `instances` yields the input and output length
histograms. Exact nearest-rank percentiles then come from those histograms, which hold one row per
distinct length: a few thousand rows whatever the dataset's size.

Per source (`sources`: seed, generated, each import): tasks, instances and unanswered tasks (no instance yet,
the balance report's count). Instances by source need the instances joined to their tasks: one hash join
(18-20 ms at 1M tasks on the 2-core machine); the unanswered count is 2 ms when every task has an answer,
15-30 ms with 100k unanswered. `dataset_stats` at 1M tasks: 21 ms before, 44-55 ms with them (best and
median of 15; the balance report, when asked for, adds ~0.7-1.5 s of its own).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import msgspec

from domain.quality import LabelStats
from store.balance.report import BalanceReport, balance_report, unanswered_by_source
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


# GROUPING() bit patterns: the one column a row is grouped by has its bit clear.
_BY_SOURCE, _BY_CATEGORY, _BY_CLASSIFICATION, _BY_INSTRUCTION_CHARS = 0b0111, 0b1011, 0b1101, 0b1110
_TASK_GROUPS = """
    SELECT GROUPING(source, category, is_classification, instruction_chars), source, category, is_classification,
           instruction_chars, count(*)
    FROM tasks WHERE dataset_id = ?
    GROUP BY GROUPING SETS ((source), (category), (is_classification), (instruction_chars))
"""
_INSTANCE_GROUPS = """
    SELECT GROUPING(input_chars, output_chars), input_chars, output_chars, count(*)
    FROM instances WHERE dataset_id = ?
    GROUP BY GROUPING SETS ((input_chars), (output_chars))
"""
_REJECTIONS = "SELECT reason, count(*) FROM rejections WHERE dataset_id = ? GROUP BY reason"
_SOURCE_INSTANCES = """
    SELECT t.source, count(*) FROM instances i JOIN tasks t ON t.id = i.task_id
    WHERE i.dataset_id = ? AND t.dataset_id = ? GROUP BY t.source
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


def dataset_stats(store: Store, dataset_id: str) -> DatasetStats:
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        task_rows = cur.execute(_TASK_GROUPS, [dataset_id]).fetchall()
        instance_rows = cur.execute(_INSTANCE_GROUPS, [dataset_id]).fetchall()
        by_reason = _sorted_counts(dict(cur.execute(_REJECTIONS, [dataset_id]).fetchall()))
        instances_by_source = dict(cur.execute(_SOURCE_INSTANCES, [dataset_id, dataset_id]).fetchall())
        unanswered = unanswered_by_source(cur, dataset_id)
    by_source = _sorted_counts({r[1]: r[5] for r in task_rows if r[0] == _BY_SOURCE})
    sources = {
        key: SourceCounts(tasks=count, instances=instances_by_source.get(key, 0), unanswered=unanswered.get(key, 0))
        for key, count in by_source.items()
    }
    classification = sum(r[5] for r in task_rows if r[0] == _BY_CLASSIFICATION and r[3])
    tasks = sum(by_source.values())
    inputs = [(r[1], r[3]) for r in instance_rows if r[0] == 0b01]
    outputs = [(r[2], r[3]) for r in instance_rows if r[0] == 0b10]
    return DatasetStats(
        dataset_id=dataset_id,
        tasks=tasks,
        instances=sum(count for _, count in outputs),
        instances_with_input=sum(count for length, count in inputs if length > 0),
        by_source=by_source,
        by_category=_sorted_counts({r[2]: r[5] for r in task_rows if r[0] == _BY_CATEGORY}),
        classification=ClassificationShare(
            count=classification, share=round(classification / tasks, 4) if tasks else 0.0
        ),
        lengths={
            "instruction": summarize_lengths([(r[4], r[5]) for r in task_rows if r[0] == _BY_INSTRUCTION_CHARS]),
            "input": summarize_lengths(inputs),
            "output": summarize_lengths(outputs),
        },
        duplicates_skipped=sum(by_reason.get(reason, 0) for reason in DUPLICATE_REASONS),
        rejections=sum(by_reason.values()),
        rejections_by_reason=by_reason,
        unanswered=sum(unanswered.values()),
        sources=sources,
    )


STATS_VERB_SAMPLE = 2_000  # verbs parsed for the stats' balance report; the balance endpoint reads more


def dataset_report(store: Store, dataset_id: str, *, share_limit: float, with_balance: bool = True) -> DatasetStats:
    """The statistics with the balance report and, where the dataset has code tasks, the code figures."""
    stats = dataset_stats(store, dataset_id)
    balance = (
        balance_report(store, dataset_id, share_limit=share_limit, verb_sample_limit=STATS_VERB_SAMPLE)
        if with_balance
        else None
    )
    code = code_stats(store, dataset_id)
    quality = quality_stats(store, dataset_id)
    return msgspec.structs.replace(
        stats, balance=balance, code=code if code.executed or code.verified_tasks else None,
        quality=quality if quality.outcomes else None,
    )  # fmt: skip
