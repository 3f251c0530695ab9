"""The import use case: a file of an open dataset (any layout, JSON Lines / JSON array / Parquet) into a dataset.

One pass over the file, streamed (`store.ingest.readers`): each row is parsed by its layout
(`store.ingest.layouts`), screened for near-duplicates against everything the dataset holds (every source: the
index jobs use) and the file's earlier rows, and staged a chunk at a time. At the end the staged rows move into the
dataset in one transaction (`store.imports.commit_import`), which also finds exact duplicates of stored tasks by
fingerprint and reports the overlap with each source. A bad row stops the staging but not the reading: the answer
names every bad row (the first 100) and nothing is added. Then the added tasks are checked against the registered
benchmarks, as generated ones are.
"""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec

from domain.errors import InvalidInputError
from domain.imports import ImportSpec, Layout
from domain.screening import DuplicateScreen
from store.contamination.check import find_contamination
from store.database import Store
from store.imports import (
    ImportRecord,
    MoveResult,
    StagedRow,
    begin_import,
    commit_import,
    finish_import,
    set_progress,
    stage_rows,
)
from store.ingest.formats import SeedLimits
from store.ingest.layouts import detect_layout, parse_row
from store.ingest.readers import RowError, iter_rows, sniff_format

_MAX_REPORTED = 100
_DETECT_SAMPLE = 100


class ImportLimits(msgspec.Struct, frozen=True, kw_only=True):
    records: SeedLimits = SeedLimits()
    chunk_rows: int = 5_000  # rows staged per transaction (and per progress update)
    # The near-duplicate check covers rows while the dataset plus the file's rows so far stay within this many
    # tasks: its index grows with them, and a row costs 1-2.5 ms there (bench/import_bench.py). Beyond, exact
    # duplicates only; the answer says how many rows were checked.
    near_duplicate_max_tasks: int = 200_000


class SourceOverlap(msgspec.Struct, frozen=True, kw_only=True):
    """Rows of this import that duplicate tasks of one source (this import's own: earlier rows of the file)."""

    source: str
    exact: int
    near: int
    summary: str  # "812 of 15,011 records near-duplicate alpaca"


class ImportReport(msgspec.Struct, frozen=True, kw_only=True):
    import_id: str
    dataset_id: str
    source: str
    license: str
    url: str | None
    layout: str
    file_format: str
    bytes: int
    rows: int  # records read from the file
    added: int
    unanswered: int  # added records with no answer yet (an `annotate` job writes one)
    conversations: int  # added records kept as multi-turn chats
    cut_turns: int  # turns dropped by `turns=first`
    exact_duplicates: int  # left out: the dataset or an earlier row of the file holds the same instruction
    near_duplicates: int  # left out (near_duplicates=skip) or kept and counted (keep)
    near_duplicate_rows_checked: int  # rows the near-duplicate check covered (all of them unless the bound cut it)
    overlap: list[SourceOverlap]
    contaminated: int  # added records that share text with a registered benchmark (snapshots leave them out)
    contamination: dict[str, int]  # benchmark -> added records matching it
    extra_fields: dict[str, int]  # fields beyond the layout's, kept as `metadata`: how many records had each
    ignored_fields: dict[str, int]
    seconds: float
    rows_per_second: float


class _Pass(msgspec.Struct, kw_only=True):
    """What one pass over the file counted."""

    rows: int = 0
    max_line: int = 0
    errors: list[dict[str, Any]] = msgspec.field(default_factory=list)
    error_count: int = 0
    near: int = 0
    near_checked: int = 0
    cut_turns: int = 0
    extra: Counter = msgspec.field(default_factory=Counter)
    ignored: Counter = msgspec.field(default_factory=Counter)


def new_import_id() -> str:
    return f"imp_{int(time.time() * 1000):012x}{secrets.token_hex(4)}"


def import_file(
    store: Store,
    dataset_id: str,
    path: Path,
    spec: ImportSpec,
    limits: ImportLimits,
    *,
    import_id: str | None = None,
    screen: Callable[[], DuplicateScreen],
    stored_tasks: int = 0,
) -> ImportReport:
    """Import the file at `path` into the dataset: all of it, or nothing and every bad row named.

    `screen` gives a near-duplicate screen over the dataset (a private view: the file's rows join only its
    overlay, never the shared index, until they are committed); `stored_tasks` sizes the near-duplicate bound.
    """
    started = time.monotonic()
    import_id = import_id or new_import_id()
    file_format = spec.file_format or sniff_format(path)
    record = ImportRecord(
        id=import_id, dataset_id=dataset_id, source=spec.source, license=spec.license, url=spec.url,
        layout=spec.chosen_layout or "detecting", file_format=file_format, options=msgspec.to_builtins(spec),
        status="staging", progress={"phase": "reading"}, rows=0, added=0, bytes=path.stat().st_size, report=None,
        error=None, created_at=None, finished_at=None,  # type: ignore[arg-type]
    )  # fmt: skip
    begin_import(store, record)
    try:
        layout = spec.chosen_layout or _detect(path, file_format)
        set_progress(store, import_id, {"phase": "reading", "rows": 0}, layout=layout)
        counted = _stage_file(store, import_id, path, file_format, layout, spec, limits, screen, stored_tasks)
        if counted.error_count:
            raise _invalid(counted)
        if not counted.rows:
            raise InvalidInputError("the file holds no records", code="empty_upload")
        set_progress(store, import_id, {"phase": "committing", "rows": counted.rows})
        moved = commit_import(store, import_id, dataset_id, spec.source, counted.max_line)
        report = _report(store, record, layout, counted, moved, started)
        finish_import(store, import_id, status="succeeded", rows=counted.rows, added=moved.added,
                      report=msgspec.to_builtins(report))  # fmt: skip
        return report
    except InvalidInputError as exc:
        finish_import(store, import_id, status="failed", rows=0, added=0,
                      report={"code": exc.code, **(exc.extra or {})}, error=exc.detail)  # fmt: skip
        raise
    except BaseException as exc:
        finish_import(store, import_id, status="failed", rows=0, added=0, report=None, error=repr(exc)[:2000])
        raise


def _detect(path: Path, file_format: str) -> Layout:
    sample = []
    for _, value in iter_rows(path, file_format):  # type: ignore[arg-type]
        if isinstance(value, dict):
            sample.append(value)
        if len(sample) >= _DETECT_SAMPLE:
            break
    if not sample:
        raise InvalidInputError("the file holds no JSON objects to import", code="empty_upload")
    return detect_layout(sample)


def _parsed(path: Path, file_format: str, layout: Layout, spec: ImportSpec, limits: ImportLimits,
            import_id: str, counted: _Pass) -> Iterator[tuple[int, Any]]:  # fmt: skip
    """(line, NewTask) for each good row; bad rows are counted in `counted` and skipped."""
    for line, value in iter_rows(path, file_format):  # type: ignore[arg-type]
        counted.rows += 1
        counted.max_line = max(counted.max_line, line)
        reason = value.reason if isinstance(value, RowError) else None
        if reason is None:
            try:
                yield line, parse_row(value, layout, spec, limits.records, {"import": import_id, "line": line})
                continue
            except ValueError as exc:
                reason = str(exc)
        counted.error_count += 1
        if len(counted.errors) < _MAX_REPORTED:
            counted.errors.append({"line": line, "reason": reason})


def _stage_file(store: Store, import_id: str, path: Path, file_format: str, layout: Layout, spec: ImportSpec,
                limits: ImportLimits, screen: Callable[[], DuplicateScreen], stored_tasks: int) -> _Pass:  # fmt: skip
    counted = _Pass()
    checking = spec.near_duplicates != "off"
    chosen = screen() if checking and stored_tasks < limits.near_duplicate_max_tasks else None
    chunk: list[StagedRow] = []
    for line, task in _parsed(path, file_format, layout, spec, limits, import_id, counted):
        if counted.error_count:  # a bad row: nothing will be added, so stop staging and only read on
            continue
        _count_task(counted, task)
        duplicate = None
        if chosen is not None and stored_tasks + counted.rows <= limits.near_duplicate_max_tasks:
            counted.near_checked += 1
            duplicate = chosen.check(task.instruction)
            chosen.remember(task.instruction)
        if duplicate is not None and duplicate.kind == "near":
            counted.near += 1
            skip = spec.near_duplicates == "skip"
            chunk.append(StagedRow(line, task, "near_duplicate" if skip else None, duplicate.detail()))
        else:  # exact duplicates are found in SQL at the move, with the source they duplicate
            chunk.append(StagedRow(line, task))
        if len(chunk) >= limits.chunk_rows:
            stage_rows(store, import_id, chunk)
            set_progress(store, import_id, {"phase": "reading", "rows": counted.rows})
            chunk = []
    if not counted.error_count:
        stage_rows(store, import_id, chunk)
    return counted


def _count_task(counted: _Pass, task: Any) -> None:
    provenance = task.provenance
    if len(provenance) > 3:  # import, line, layout: anything more is what these count (most rows have none)
        counted.cut_turns += provenance.get("cut_turns", 0)
        counted.extra.update(provenance.get("metadata", ()))
        counted.ignored.update(provenance.get("ignored_fields", ()))


def _invalid(counted: _Pass) -> InvalidInputError:
    return InvalidInputError(
        f"{counted.error_count} of {counted.rows} records are invalid; nothing was added",
        code="invalid_upload",
        extra={"error_count": counted.error_count, "errors": counted.errors},
    )


def _report(
    store: Store, record: ImportRecord, layout: str, counted: _Pass, moved: MoveResult, started: float
) -> ImportReport:
    contamination = find_contamination(store, record.dataset_id, range(moved.first_id, moved.last_id + 1))
    per_benchmark = {b.benchmark: b.tasks for b in contamination.benchmarks if b.tasks}
    rows = counted.rows
    sources = sorted(set(moved.exact_overlap) | set(moved.near_overlap))
    overlap = [_overlap(name, moved.exact_overlap.get(name, 0), moved.near_overlap.get(name, 0), rows, record.source)
               for name in sources]  # fmt: skip
    seconds = time.monotonic() - started
    return ImportReport(
        import_id=record.id, dataset_id=record.dataset_id, source=record.source, license=record.license,
        url=record.url, layout=layout, file_format=record.file_format, bytes=record.bytes, rows=rows,
        added=moved.added, unanswered=moved.unanswered, conversations=moved.conversations,
        cut_turns=counted.cut_turns, exact_duplicates=sum(moved.exact_overlap.values()),
        near_duplicates=counted.near, near_duplicate_rows_checked=counted.near_checked,
        overlap=overlap, contaminated=len(contamination.contaminated_task_ids), contamination=per_benchmark,
        extra_fields=dict(counted.extra.most_common()), ignored_fields=dict(counted.ignored.most_common()),
        seconds=round(seconds, 3), rows_per_second=round(rows / seconds, 1) if seconds > 0 else 0.0,
    )  # fmt: skip


def _overlap(name: str, exact: int, near: int, rows: int, own: str) -> SourceOverlap:
    whom = f"earlier rows of this file ({own})" if name == own else name
    parts = [f"{n:,} exact" for n in [exact] if n] + [f"{n:,} near" for n in [near] if n]
    return SourceOverlap(source=name, exact=exact, near=near,
                         summary=f"{exact + near:,} of {rows:,} records duplicate {whom} ({', '.join(parts)})")
