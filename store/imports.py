"""Imports of open datasets, as the database holds them: the `imports` rows, their staged rows, and the move.

An import streams through `import_staged_*` chunk by chunk (each chunk its own short transaction, so a 1 GB file
never holds the writer), then `commit_import` moves it into `tasks` in one transaction: all or nothing. An import
left `staging` by a crash is settled at start-up (`settle_imports`): marked failed, its staged rows dropped.
The use case (parsing, screening, the report) is `store.ingest.imports`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
import pyarrow as pa

from domain.errors import NotFoundError
from domain.fingerprint import fingerprint
from domain.records import NewTask
from store.database import Store
from store.datasets import require_dataset
from store.tasks import conversation_columns
from store.words import words_sql

ImportStatus = Literal["staging", "succeeded", "failed"]
_json = msgspec.json.Encoder()
_STAGED_TABLES = ("import_staged_tasks", "import_staged_instances", "import_staged_conversations")


class ImportRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    source: str
    license: str
    url: str | None
    layout: str
    file_format: str
    options: dict[str, Any]
    status: ImportStatus
    progress: dict[str, Any]  # phase, rows read, bytes: updated a chunk at a time while it runs
    rows: int
    added: int
    bytes: int
    report: dict[str, Any] | None  # the import's answer (`store.ingest.imports.ImportReport`) once it ended
    error: str | None
    created_at: datetime
    finished_at: datetime | None


class StagedRow(msgspec.Struct, frozen=True):
    """One row of the file on its way in: the task, its line, and why it is left out (None: added)."""

    line: int
    task: NewTask
    reason: str | None = None
    detail: dict[str, Any] | None = None


_COLUMNS = ", ".join(ImportRecord.__struct_fields__)


def begin_import(store: Store, record: ImportRecord) -> None:
    with store.write() as cur:
        require_dataset(cur, record.dataset_id)
        cur.execute(
            "INSERT INTO imports (id, dataset_id, source, license, url, layout, file_format, options, status, bytes)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'staging', ?)",
            [record.id, record.dataset_id, record.source, record.license, record.url, record.layout,
             record.file_format, _json.encode(record.options).decode(), record.bytes],
        )  # fmt: skip


def set_progress(store: Store, import_id: str, progress: dict[str, Any], **columns: str) -> None:
    """The running import's progress (and its layout / file format once known)."""
    assignments = "".join(f", {name} = ?" for name in columns)
    with store.write() as cur:
        cur.execute(
            f"UPDATE imports SET progress = ?{assignments} WHERE id = ? AND status = 'staging'",
            [_json.encode(progress).decode(), *columns.values(), import_id],
        )


def stage_rows(store: Store, import_id: str, rows: Sequence[StagedRow]) -> None:
    """Append a chunk of rows to the import's staging tables (a short transaction of its own)."""
    if not rows:
        return
    tasks = [r.task for r in rows]
    staged = pa.table({
        "position": pa.array([r.line for r in rows], pa.int64()),
        "instruction": [t.instruction for t in tasks],
        "fingerprint": pa.array([fingerprint(t.instruction) for t in tasks], pa.int64()),
        "is_classification": [t.is_classification for t in tasks],
        "category": [t.category for t in tasks],
        "provenance": [_json.encode(t.provenance).decode() for t in tasks],
        "text_chars": pa.array([sum(len(t.instruction) + len(i.input) + len(i.output) for i in t.instances)
                                for t in tasks], pa.int64()),  # fmt: skip
        "reason": pa.array([r.reason for r in rows], pa.string()),
        "detail": pa.array([None if r.detail is None else _json.encode(r.detail).decode() for r in rows], pa.string()),
    })  # fmt: skip
    instances = [(r.line, n, i) for r in rows if r.reason is None for n, i in enumerate(r.task.instances)]
    chats = [r for r in rows if r.reason is None and r.task.conversation is not None]
    with store.write() as cur:
        cur.register("staged", staged)
        cur.execute("INSERT INTO import_staged_tasks SELECT ?, position, instruction, fingerprint, is_classification,"
                    " category, provenance, text_chars, reason, detail FROM staged", [import_id])  # fmt: skip
        cur.unregister("staged")
        if instances:
            cur.register("staged", pa.table({
                "position": pa.array([x[0] for x in instances], pa.int64()),
                "n": pa.array([x[1] for x in instances], pa.int32()),
                "input": [x[2].input for x in instances], "output": [x[2].output for x in instances],
            }))  # fmt: skip
            cur.execute("INSERT INTO import_staged_instances SELECT ?, position, n, input, output FROM staged",
                        [import_id])  # fmt: skip
            cur.unregister("staged")
        if chats:
            columns = conversation_columns([r.task.conversation for r in chats])  # type: ignore[misc]
            cur.register("staged", pa.table({"position": pa.array([r.line for r in chats], pa.int64()), **columns}))
            cur.execute("INSERT INTO import_staged_conversations SELECT ?, position, system, turns FROM staged",
                        [import_id])  # fmt: skip
            cur.unregister("staged")


# Staged rows to add whose instruction the dataset already holds word for word (any source), and repeats of an
# earlier row of the file itself (the first one stays): exact duplicates, with the source and task they repeat.
_EXACT_OVERLAP = """
    SELECT s.position, t.source, t.id FROM import_staged_tasks s
    JOIN tasks t ON t.dataset_id = $dataset AND t.fingerprint = s.fingerprint
    WHERE s.import_id = $import AND s.reason IS NULL
    UNION ALL
    SELECT position, $source, NULL FROM (
        SELECT position, row_number() OVER (PARTITION BY fingerprint ORDER BY position) AS k
        FROM import_staged_tasks
        WHERE import_id = $import AND reason IS NULL
          AND fingerprint NOT IN (SELECT fingerprint FROM tasks WHERE dataset_id = $dataset)
    ) WHERE k > 1
"""
# Near-duplicates (left out, or kept with near_duplicates=keep: both carry their match in `detail`) matched a
# stored task by its text, or an earlier row of the same file (no stored task has that text: this import's own).
_NEAR_OVERLAP = """
    WITH near AS (
        SELECT json_extract_string(detail, '$.match') AS match FROM import_staged_tasks
        WHERE import_id = $import AND json_extract_string(detail, '$.match') IS NOT NULL
    ), matched AS (
        SELECT instruction, any_value(source) AS source FROM tasks
        WHERE dataset_id = $dataset AND instruction IN (SELECT match FROM near) GROUP BY instruction
    )
    SELECT coalesce(m.source, $source), count(*) FROM near n LEFT JOIN matched m ON m.instruction = n.match
    GROUP BY ALL ORDER BY 2 DESC
"""
_MOVE_TASKS = """
    INSERT INTO tasks (id, dataset_id, instruction, fingerprint, is_classification, category, source, job_id,
                       provenance, instruction_chars, text_chars, import_id, instruction_words)
    SELECT $first + s.position, $dataset, s.instruction, s.fingerprint, s.is_classification, s.category, $source, NULL,
           s.provenance, length(s.instruction), s.text_chars, $import, {words}
    FROM import_staged_tasks s
    WHERE s.import_id = $import AND s.reason IS NULL AND s.position NOT IN (SELECT position FROM exact_overlap)
""".format(words=words_sql("s.instruction"))  # the words as `add_tasks` counts them
_MOVE_INSTANCES = """
    INSERT INTO instances (task_id, position, dataset_id, input, output, input_chars, output_chars)
    SELECT $first + i.position, i.n, $dataset, i.input, i.output, length(i.input), length(i.output)
    FROM import_staged_instances i
    WHERE i.import_id = $import AND i.position NOT IN (SELECT position FROM exact_overlap)
"""
_MOVE_CONVERSATIONS = """
    INSERT INTO conversations (task_id, dataset_id, system, turns)
    SELECT $first + c.position, $dataset, c.system, c.turns FROM import_staged_conversations c
    WHERE c.import_id = $import AND c.position NOT IN (SELECT position FROM exact_overlap)
"""
_MOVE_REJECTIONS = """
    INSERT INTO rejections (dataset_id, job_id, stage, reason, instruction, detail)
    SELECT $dataset, NULL, 'import', s.reason, s.instruction,
           json_merge_patch(json_merge_patch(s.provenance, coalesce(s.detail, '{}')),
                            CASE WHEN m.source IS NULL THEN '{}' ELSE json_object('match_source', m.source) END)
    FROM import_staged_tasks s
    LEFT JOIN (  -- the source of the stored task a near-duplicate matched (an earlier row's: this import's)
        SELECT instruction, any_value(source) AS source FROM tasks
        WHERE dataset_id = $dataset AND instruction IN (
            SELECT json_extract_string(detail, '$.match') FROM import_staged_tasks
            WHERE import_id = $import AND reason IS NOT NULL)
        GROUP BY instruction
    ) m ON m.instruction = json_extract_string(s.detail, '$.match')
    WHERE s.import_id = $import AND s.reason IS NOT NULL
    UNION ALL
    SELECT $dataset, NULL, 'import', 'exact_duplicate', s.instruction,
           json_merge_patch(s.provenance, json_object('match_source', o.source, 'match_task_id', o.id))
    FROM import_staged_tasks s JOIN exact_overlap o ON o.position = s.position WHERE s.import_id = $import
"""


_ADDED = """
    SELECT count(*),
           count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM instances i
                                               WHERE i.task_id = t.id AND i.dataset_id = t.dataset_id)),
           count(*) FILTER (WHERE EXISTS (SELECT 1 FROM conversations c
                                           WHERE c.task_id = t.id AND c.dataset_id = t.dataset_id))
    FROM tasks t WHERE t.import_id = ?
"""


class MoveResult(msgspec.Struct, frozen=True, kw_only=True):
    added: int
    unanswered: int  # added tasks with no answer yet
    conversations: int  # added tasks kept as whole chats
    first_id: int  # added tasks have ids first_id + line: a range the checks after the move can select
    last_id: int
    exact_overlap: dict[str, int]  # stored source -> rows of this import that duplicate it word for word
    near_overlap: dict[str, int]  # stored source (or this import's own, for earlier rows) -> near-duplicates


def commit_import(store: Store, import_id: str, dataset_id: str, source: str, max_line: int) -> MoveResult:
    """Move the staged import into the dataset in one transaction: all of it or (on any error) nothing."""
    with store.write() as cur:
        require_dataset(cur, dataset_id)
        keys = {"dataset": dataset_id, "import": import_id, "source": source}
        overlap = cur.sql(_EXACT_OVERLAP, params=keys).to_arrow_table()
        cur.register("exact_overlap", overlap)
        first = store.allocate_task_ids(max_line + 1)
        named = {"first": first, "dataset": dataset_id, "import": import_id}
        cur.execute(_MOVE_TASKS, named | {"source": source})
        cur.execute(_MOVE_INSTANCES, named)
        cur.execute(_MOVE_CONVERSATIONS, named)
        added, unanswered, chats = cur.execute(_ADDED, [import_id]).fetchall()[0]
        cur.execute(_MOVE_REJECTIONS, {"dataset": dataset_id, "import": import_id})
        near = dict(cur.execute(_NEAR_OVERLAP, keys).fetchall())
        cur.unregister("exact_overlap")
        _drop_staged(cur, import_id)
    exact: dict[str, int] = {}
    for name in overlap.column("source").to_pylist():
        exact[name] = exact.get(name, 0) + 1
    return MoveResult(added=added, unanswered=unanswered, conversations=chats, first_id=first,
                      last_id=first + max_line, exact_overlap=exact, near_overlap=near)  # fmt: skip


def finish_import(store: Store, import_id: str, *, status: ImportStatus, rows: int, added: int,
                  report: dict[str, Any] | None, error: str | None = None) -> None:  # fmt: skip
    with store.write() as cur:
        cur.execute(
            "UPDATE imports SET status = ?, rows = ?, added = ?, report = ?, error = ?,"
            " finished_at = current_timestamp, progress = json_object('phase', 'done', 'rows', ?::BIGINT) WHERE id = ?",
            [status, rows, added, None if report is None else _json.encode(report).decode(), error, rows, import_id],
        )
        if status != "succeeded":
            _drop_staged(cur, import_id)


def _drop_staged(cur, import_id: str) -> None:
    for table in _STAGED_TABLES:
        cur.execute(f"DELETE FROM {table} WHERE import_id = ?", [import_id])


def settle_imports(store: Store, spool: Path | None = None) -> int:
    """After a crash: imports still `staging` failed (nothing of them reached `tasks`); drop their staged rows and
    the uploads half-received in `spool`. Call before serving: no import runs yet."""
    for leftover in spool.glob("upload-*.part") if spool is not None and spool.is_dir() else ():
        leftover.unlink(missing_ok=True)
    with store.write() as cur:
        pending = [row[0] for row in cur.execute("SELECT id FROM imports WHERE status = 'staging'").fetchall()]
        for import_id in pending:
            cur.execute("UPDATE imports SET status = 'failed', error = 'interrupted: the service stopped during the"
                        " import; nothing of it was added', finished_at = current_timestamp WHERE id = ?",
                        [import_id])  # fmt: skip
            _drop_staged(cur, import_id)
        orphans = "SELECT id FROM imports WHERE status = 'staging'"
        for table in _STAGED_TABLES:  # rows of an import whose row is gone (its dataset was deleted)
            cur.execute(f"DELETE FROM {table} WHERE import_id NOT IN (SELECT id FROM imports)"
                        f" OR import_id IN ({orphans})")  # fmt: skip
    return len(pending)


def _row_to_import(row: tuple) -> ImportRecord:
    fields = dict(zip(ImportRecord.__struct_fields__, row, strict=True))
    for name in ("options", "progress", "report"):
        fields[name] = None if fields[name] is None else msgspec.json.decode(fields[name])
    return msgspec.convert(fields, ImportRecord)


def get_import(store: Store, dataset_id: str, import_id: str) -> ImportRecord:
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(f"SELECT {_COLUMNS} FROM imports WHERE id = ? AND dataset_id = ?",
                           [import_id, dataset_id]).fetchall()  # fmt: skip
    if not rows:
        raise NotFoundError(f"no import with id {import_id!r} in this dataset", code="import_not_found")
    return _row_to_import(rows[0])


def list_imports(store: Store, dataset_id: str) -> list[ImportRecord]:
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(f"SELECT {_COLUMNS} FROM imports WHERE dataset_id = ? ORDER BY created_at, id",
                           [dataset_id]).fetchall()  # fmt: skip
    return [_row_to_import(row) for row in rows]
