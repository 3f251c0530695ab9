"""Dataset statistics, computed by DuckDB over stored columns (never by loading rows into Python)."""

from __future__ import annotations

import msgspec

from store.database import Store
from store.datasets import require_dataset

DUPLICATE_REASONS = ("exact_duplicate", "near_duplicate")


class LengthSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Lengths in characters; percentiles are nearest-rank (an observed value, DuckDB quantile_disc)."""

    min: int
    p50: int
    p90: int
    p99: int
    max: int
    mean: float


class ClassificationShare(msgspec.Struct, frozen=True, kw_only=True):
    count: int
    share: float


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


_LENGTHS = "min({c}), quantile_disc({c}, [0.5, 0.9, 0.99]), max({c}), avg({c})"
_TASK_SUMMARY = f"""
    SELECT count(*), count(*) FILTER (WHERE is_classification), {_LENGTHS.format(c="instruction_chars")}
    FROM tasks WHERE dataset_id = ?
"""
_INSTANCE_SUMMARY = f"""
    SELECT count(*), count(*) FILTER (WHERE input_chars > 0),
           {_LENGTHS.format(c="input_chars")}, {_LENGTHS.format(c="output_chars")}
    FROM instances WHERE dataset_id = ?
"""
_COUNT_BY = (
    "SELECT {column}, count(*) FROM {table} WHERE dataset_id = ? GROUP BY {column} ORDER BY count(*) DESC, {column}"
)


def _length_summary(values: tuple) -> LengthSummary | None:
    low, quantiles, high, mean = values
    if low is None:
        return None
    p50, p90, p99 = quantiles
    return LengthSummary(min=low, p50=p50, p90=p90, p99=p99, max=high, mean=round(mean, 2))


def dataset_stats(store: Store, dataset_id: str) -> DatasetStats:
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        task_row = cur.execute(_TASK_SUMMARY, [dataset_id]).fetchall()[0]
        instance_row = cur.execute(_INSTANCE_SUMMARY, [dataset_id]).fetchall()[0]

        def count_by(table: str, column: str) -> dict[str, int]:
            return dict(cur.execute(_COUNT_BY.format(table=table, column=column), [dataset_id]).fetchall())

        by_source = count_by("tasks", "source")
        by_category = count_by("tasks", "category")
        by_reason = count_by("rejections", "reason")
    tasks, classification = task_row[0], task_row[1]
    return DatasetStats(
        dataset_id=dataset_id,
        tasks=tasks,
        instances=instance_row[0],
        instances_with_input=instance_row[1],
        by_source=by_source,
        by_category=by_category,
        classification=ClassificationShare(
            count=classification, share=round(classification / tasks, 4) if tasks else 0.0
        ),
        lengths={
            "instruction": _length_summary(task_row[2:6]),
            "input": _length_summary(instance_row[2:6]),
            "output": _length_summary(instance_row[6:10]),
        },
        duplicates_skipped=sum(by_reason.get(reason, 0) for reason in DUPLICATE_REASONS),
        rejections=sum(by_reason.values()),
        rejections_by_reason=by_reason,
    )
