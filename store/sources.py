"""Where a dataset's tasks came from: per source, how many tasks (answered or not) and instances, and the licences,
URLs and row counts of the imports that brought them; over the whole dataset or over a selection (a snapshot's).

Only imports that succeeded count. Tasks of "seed" and "generated", and of a source whose tasks name no recorded
import, have no recorded licence: they are reported as NOASSERTION (`domain.licenses` says what that means).
"""

from __future__ import annotations

from collections.abc import Sequence

import duckdb
import msgspec
import pyarrow as pa

from domain.imports import UNKNOWN_LICENSE
from domain.licenses import DISCLAIMER, LicenceWarning, licence_warnings
from domain.records import GENERATED_SOURCE, SEED_SOURCE
from store.database import Store
from store.datasets import require_dataset

_SELECTION = "source_selection"
_PER_SOURCE = """
    WITH chosen AS (SELECT id, source FROM tasks WHERE dataset_id = ? {selection}),
    answers AS (SELECT task_id, count(*) AS n FROM instances WHERE dataset_id = ?
                AND task_id IN (SELECT id FROM chosen) GROUP BY task_id)
    SELECT c.source, count(*), count(a.task_id), coalesce(sum(a.n), 0)
    FROM chosen c LEFT JOIN answers a ON a.task_id = c.id GROUP BY c.source ORDER BY c.source
"""
# Each succeeded import of a chosen source, with how many of the chosen tasks it brought.
_IMPORTS = """
    WITH chosen AS (SELECT id, source, import_id FROM tasks WHERE dataset_id = ? {selection})
    SELECT i.source, i.license, i.url, i.rows, i.added, (SELECT count(*) FROM chosen c WHERE c.import_id = i.id)
    FROM imports i WHERE i.dataset_id = ? AND i.status = 'succeeded' AND i.source IN (SELECT source FROM chosen)
    ORDER BY i.created_at, i.id
"""
_NOTES = {
    GENERATED_SOURCE: "model output: its terms follow the licence of the model that wrote it",
    SEED_SOURCE: "uploaded seed tasks: the upload records no licence",
}


class SourceSummary(msgspec.Struct, frozen=True, kw_only=True):
    source: str
    tasks: int
    answered_tasks: int  # with at least one instance (an imported instruction may have none yet)
    instances: int
    share: float  # of the tasks counted (the dataset's, or the selection's)
    licenses: tuple[str, ...]  # SPDX ids or expressions of its imports; NOASSERTION where none is recorded
    urls: tuple[str, ...]
    imports: int  # succeeded imports of this source whose tasks are counted
    rows_imported: int  # rows those imports read from their files
    tasks_added: int  # tasks those imports added (the rest: duplicates and rejected rows)
    note: str | None = None


class SourcesReport(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SourceSummary]
    licence_warnings: list[LicenceWarning]
    licence_note: str = DISCLAIMER


def _summary(row: tuple, total: int, imports: list[tuple], selected: bool) -> SourceSummary:
    source, tasks, answered, instances = row
    used = imports
    # A selection counts the imports its tasks came from, unless some of them name no import of theirs (stored
    # before imports were recorded): then every import of the source counts, since any may have brought them.
    if selected and sum(i[5] for i in imports) >= tasks:
        used = [i for i in imports if i[5] > 0]
    licenses = tuple(dict.fromkeys(i[1] for i in used)) or (UNKNOWN_LICENSE,)
    return SourceSummary(
        source=source, tasks=tasks, answered_tasks=answered, instances=int(instances),
        share=round(tasks / total, 4) if total else 0.0, licenses=licenses,
        urls=tuple(dict.fromkeys(i[2] for i in used if i[2])), imports=len(used),
        rows_imported=sum(i[3] for i in used), tasks_added=sum(i[4] for i in used), note=_NOTES.get(source),
    )  # fmt: skip


def dataset_sources(
    store_or_cur: Store | duckdb.DuckDBPyConnection, dataset_id: str, task_ids: Sequence[int] | None = None
) -> list[SourceSummary]:
    """Per source (by name), over the dataset's tasks or over those among `task_ids`."""
    if isinstance(store_or_cur, Store):
        with store_or_cur.read() as cur:
            return dataset_sources(cur, dataset_id, task_ids)
    cur = store_or_cur
    require_dataset(cur, dataset_id)
    selection = ""
    if task_ids is not None:  # an Arrow table scanned by a semi join, not an IN list
        cur.register(_SELECTION, pa.table({"id": pa.array(task_ids, pa.int64())}))
        selection = f"AND id IN (SELECT id FROM {_SELECTION})"
    try:
        rows = cur.execute(_PER_SOURCE.format(selection=selection), [dataset_id, dataset_id]).fetchall()
        imports = cur.execute(_IMPORTS.format(selection=selection), [dataset_id, dataset_id]).fetchall()
    finally:
        if task_ids is not None:
            cur.unregister(_SELECTION)
    total = sum(r[1] for r in rows)
    return [_summary(row, total, [i for i in imports if i[0] == row[0]], task_ids is not None) for row in rows]


def source_licences(summaries: Sequence[SourceSummary]) -> list[tuple[str, str, int]]:
    """`(source, licence, tasks)` for `domain.licenses.licence_warnings`: one row per licence of a source."""
    return [(s.source, licence, s.tasks) for s in summaries for licence in s.licenses]


def sources_report(store: Store, dataset_id: str, task_ids: Sequence[int] | None = None) -> SourcesReport:
    items = dataset_sources(store, dataset_id, task_ids)
    return SourcesReport(items=items, licence_warnings=licence_warnings(source_licences(items)))


def source_and_category_names(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> tuple[set[str], set[str]]:
    """Every source and every category the dataset's tasks have (what a mixing recipe may name)."""
    require_dataset(cur, dataset_id)
    rows = cur.execute(
        "SELECT DISTINCT 's', source FROM tasks WHERE dataset_id = ? "
        "UNION ALL SELECT DISTINCT 'c', category FROM tasks WHERE dataset_id = ?",
        [dataset_id, dataset_id],
    ).fetchall()
    return {name for kind, name in rows if kind == "s"}, {name for kind, name in rows if kind == "c"}


def manifest_sources(store: Store, dataset_id: str, task_ids: Sequence[int]) -> dict[str, object]:
    """A snapshot manifest's `sources`, `licence_warnings` and `licence_note`, over the snapshot's tasks."""
    report = sources_report(store, dataset_id, task_ids)
    return {
        "sources": msgspec.to_builtins(report.items),
        "licence_warnings": msgspec.to_builtins(report.licence_warnings),
        "licence_note": report.licence_note,
    }
