"""The CLI's tables, rendered from literal answers."""

from __future__ import annotations

from rich.console import Console

from service.client_views import stats_view
from store.stats import ClassificationShare, DatasetStats, SourceCounts


def _source_rows(stats: DatasetStats) -> tuple[list[str], list[list[str]]]:
    """The `by source` table's header cells and its rows' cells, read from the rendered text."""
    console = Console(width=120, record=True, color_system=None)
    console.print(stats_view(stats))
    lines = console.export_text().splitlines()
    start = next(n for n, line in enumerate(lines) if line.startswith("by source"))
    end = next(n for n, line in enumerate(lines) if line.startswith("by category"))
    cells = [line.replace("│", " ").replace("┃", " ").split() for line in lines[start + 1 : end]]
    return cells[1], [row for row in cells if row[:1] in (["alpaca"], ["seed"])]


def _stats(**fields) -> DatasetStats:
    return DatasetStats(dataset_id="ds_x", tasks=10, instances=8, instances_with_input=0,
                        by_source={"alpaca": 6, "seed": 4}, by_category={"uncategorized": 10},
                        classification=ClassificationShare(count=0, share=0.0), lengths={}, duplicates_skipped=0,
                        rejections=0, rejections_by_reason={}, **fields)  # fmt: skip


def test_the_stats_table_shows_each_source_with_its_unanswered_tasks() -> None:
    sources = {"alpaca": SourceCounts(tasks=6, instances=4, unanswered=2),
               "seed": SourceCounts(tasks=4, instances=4, unanswered=0)}  # fmt: skip
    header, rows = _source_rows(_stats(unanswered=2, sources=sources))
    assert header == ["count", "share", "instances", "no", "answer"]
    assert rows == [["alpaca", "6", "60.0%", "4", "2"], ["seed", "4", "40.0%", "4", "0"]]


def test_an_answer_without_per_source_counts_still_shows_the_sources() -> None:
    header, rows = _source_rows(_stats())
    assert header == ["count", "share"]
    assert rows == [["alpaca", "6", "60.0%"], ["seed", "4", "40.0%"]]
