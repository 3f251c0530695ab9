"""Tasks and their instances: batch ingest with exact dedup, keyset-paged reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from domain.fingerprint import fingerprint
from domain.quality import Judgement, MutationScore
from domain.records import CodeCheck, Conversation, Instance, NewTask, Rejection, Source, Turn
from store.database import Store
from store.datasets import require_dataset
from store.quality import SCORES, insert_judgements, latest_judgements
from store.records import AddResult, RecordFilter, TaskPage, TaskRecord
from store.words import word_counts

_MAX_REPORTED_DUPLICATES = 100
_json = msgspec.json.Encoder()

_EXISTING_FINGERPRINTS = """
    SELECT c.position FROM incoming_tasks c
    SEMI JOIN tasks t ON t.dataset_id = ? AND t.fingerprint = c.fingerprint
"""
_INSERT_TASKS = """
    INSERT INTO tasks (id, dataset_id, instruction, fingerprint, is_classification, category, source, job_id,
                       provenance, instruction_chars, text_chars, category_confidence, instruction_words)
    SELECT $1 + position, $2, instruction, fingerprint, is_classification, category, $3, $4, provenance,
           length(instruction), text_chars, category_confidence, instruction_words
    FROM incoming_tasks
"""
_INSERT_INSTANCES = """
    INSERT INTO instances (task_id, position, dataset_id, input, output, input_chars, output_chars)
    SELECT $1 + position, n, $2, input, output, length(input), length(output) FROM incoming_instances
"""
_INSERT_CODE_CHECKS = """
    INSERT INTO code_checks (task_id, dataset_id, entry_point, solution, tests, status, tests_passed, tests_total,
                             duration_s, error, kill_rate, strength)
    SELECT $1 + position, $2, entry_point, solution, tests, status, tests_passed, tests_total, duration_s, error,
           kill_rate, strength
    FROM incoming_code_checks
"""
_INSERT_CONVERSATIONS = """
    INSERT INTO conversations (task_id, dataset_id, system, turns)
    SELECT $1 + position, $2, system, turns FROM incoming_conversations
"""
_INSERT_REJECTIONS = """
    INSERT INTO rejections (dataset_id, job_id, stage, reason, instruction, detail)
    SELECT ?, ?, ?, reason, instruction, detail FROM incoming_rejections
"""
_PAGE = """
    SELECT t.id, t.instruction, t.source, t.category, t.is_classification, t.provenance, t.created_at,
           list({{'input': i.input, 'output': i.output}} ORDER BY i.position) FILTER (WHERE i.task_id IS NOT NULL),
           any_value(c.entry_point), any_value(c.solution), any_value(c.tests), any_value(c.status),
           any_value(c.tests_passed), any_value(c.tests_total), any_value(c.duration_s), any_value(c.error),
           any_value(c.strength), t.category_confidence, any_value(v.system), any_value(v.turns)
    FROM (SELECT * FROM tasks WHERE dataset_id = ? AND id > ? {filters} ORDER BY id LIMIT ?) t
    LEFT JOIN instances i ON i.task_id = t.id AND i.dataset_id = t.dataset_id
    LEFT JOIN code_checks c ON c.task_id = t.id AND c.dataset_id = t.dataset_id
    LEFT JOIN conversations v ON v.task_id = t.id AND v.dataset_id = t.dataset_id
    GROUP BY ALL
    ORDER BY t.id
"""


def filter_clause(record_filter: RecordFilter, alias: str = "") -> tuple[str, list[Any]]:
    """SQL conditions (each starting with AND) and their parameters for a RecordFilter."""
    prefix = f"{alias}." if alias else ""
    sql, params = [], []
    for column, value in (
        ("source", record_filter.source),
        ("category", record_filter.category),
        ("is_classification", record_filter.is_classification),
    ):
        if value is not None:
            sql.append(f" AND {prefix}{column} = ?")
            params.append(value)
    if record_filter.min_quality is not None:
        sql.append(f" AND {prefix}id IN (SELECT task_id FROM {SCORES} WHERE score >= ?)")
        params.append(record_filter.min_quality)
    return "".join(sql), params


def _split_duplicates(prints: list[int]) -> tuple[list[int], list[int]]:
    """Positions of first occurrences, and of repeats inside the batch itself."""
    seen: set[int] = set()
    firsts, repeats = [], []
    for position, value in enumerate(prints):
        (repeats if value in seen else firsts).append(position)
        seen.add(value)
    return firsts, repeats


def _text_chars(task: NewTask) -> int:
    return sum(len(task.instruction) + len(i.input) + len(i.output) for i in task.instances)


def _candidate_tables(tasks: Sequence[NewTask], firsts: list[int], prints: list[int]) -> tuple[pa.Table, pa.Table]:
    """Arrow tables of the batch's first occurrences, keyed by batch position (ids come later, in SQL)."""
    chosen = [tasks[p] for p in firsts]
    instructions = pa.array([t.instruction for t in chosen], pa.string())
    task_table = pa.table(
        {
            "position": pa.array(firsts, pa.int64()),
            "instruction": instructions,
            "fingerprint": pa.array([prints[p] for p in firsts], pa.int64()),
            "is_classification": [t.is_classification for t in chosen],
            "category": [t.category for t in chosen],
            "provenance": [_json.encode(t.provenance).decode() for t in chosen],
            "text_chars": pa.array([_text_chars(t) for t in chosen], pa.int64()),
            "category_confidence": pa.array([t.category_confidence for t in chosen], pa.float64()),
            "instruction_words": word_counts(instructions),
        }
    )
    rows = [(p, n, inst) for p, task in zip(firsts, chosen, strict=True) for n, inst in enumerate(task.instances)]
    instance_table = pa.table(
        {
            "position": pa.array([r[0] for r in rows], pa.int64()),
            "n": pa.array([r[1] for r in rows], pa.int32()),
            "input": [r[2].input for r in rows],
            "output": [r[2].output for r in rows],
        }
    )
    return task_table, instance_table


def _without(table: pa.Table, positions: set[int]) -> pa.Table:
    if not positions:
        return table
    return table.filter(pc.invert(pc.is_in(table["position"], pa.array(sorted(positions), pa.int64()))))


def _code_table(tasks: Sequence[NewTask], firsts: list[int]) -> pa.Table | None:
    """The code checks of the batch's first occurrences that carry one; None when none does."""
    positions = [p for p in firsts if tasks[p].code is not None]
    if not positions:
        return None
    checks = [tasks[p].code for p in positions]
    columns: dict[str, Any] = {"position": pa.array(positions, pa.int64())}
    for field in ("entry_point", "solution", "status", "tests_passed", "tests_total", "duration_s", "error"):
        columns[field] = [getattr(check, field) for check in checks]
    columns["tests"] = [_json.encode(check.tests).decode() for check in checks]
    columns["kill_rate"] = pa.array([c.strength.kill_rate if c.strength else None for c in checks], pa.float64())
    columns["strength"] = pa.array([_json.encode(c.strength).decode() if c.strength else None for c in checks],
                                   pa.string())  # fmt: skip
    return pa.table(columns)


TURNS_TYPE = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))


def conversation_columns(conversations: Sequence[Conversation]) -> dict[str, pa.Array]:
    """The `system` and `turns` columns of conversations, as the `conversations` table holds them."""
    return {
        "system": pa.array([c.system for c in conversations], pa.string()),
        "turns": pa.array([[{"role": t.role, "content": t.content} for t in c.turns] for c in conversations],
                          TURNS_TYPE),  # fmt: skip
    }


def _conversation_table(tasks: Sequence[NewTask], firsts: list[int]) -> pa.Table | None:
    positions = [p for p in firsts if tasks[p].conversation is not None]
    if not positions:
        return None
    columns = conversation_columns([tasks[p].conversation for p in positions])  # type: ignore[misc]
    return pa.table({"position": pa.array(positions, pa.int64()), **columns})


class PreparedBatch(msgspec.Struct, frozen=True):
    """A batch with its fingerprints and Arrow tables computed: everything that needs no lock."""

    tasks: Sequence[NewTask]
    repeats: list[int]
    task_table: pa.Table
    instance_table: pa.Table
    code_table: pa.Table | None = None
    conversation_table: pa.Table | None = None


def prepare_batch(tasks: Sequence[NewTask]) -> PreparedBatch:
    prints = [fingerprint(task.instruction) for task in tasks]
    firsts, repeats = _split_duplicates(prints)
    return PreparedBatch(
        tasks, repeats, *_candidate_tables(tasks, firsts, prints), _code_table(tasks, firsts),
        _conversation_table(tasks, firsts),
    )  # fmt: skip


def insert_batch(
    cur, store: Store, dataset_id: str, batch: PreparedBatch, *, source: Source, stage: str, job_id: str | None
) -> AddResult:
    """Insert a prepared batch inside the caller's `store.write()` transaction, skipping exact duplicates."""
    require_dataset(cur, dataset_id)
    cur.register("incoming_tasks", batch.task_table)
    stored = {row[0] for row in cur.execute(_EXISTING_FINGERPRINTS, [dataset_id]).fetchall()}
    # Ids: the batch's first id plus the batch position; the positions of duplicates stay unused.
    first_id = store.allocate_task_ids(len(batch.tasks))
    cur.register("incoming_tasks", _without(batch.task_table, stored))
    cur.register("incoming_instances", kept_instances := _without(batch.instance_table, stored))
    cur.execute(_INSERT_TASKS, [first_id, dataset_id, source, job_id])
    cur.execute(_INSERT_INSTANCES, [first_id, dataset_id])
    if batch.code_table is not None:
        cur.register("incoming_code_checks", _without(batch.code_table, stored))
        cur.execute(_INSERT_CODE_CHECKS, [first_id, dataset_id])
        cur.unregister("incoming_code_checks")
    if batch.conversation_table is not None:
        cur.register("incoming_conversations", _without(batch.conversation_table, stored))
        cur.execute(_INSERT_CONVERSATIONS, [first_id, dataset_id])
        cur.unregister("incoming_conversations")
    judged = [(first_id + p, batch.tasks[p].judgement) for p in batch.task_table["position"].to_pylist()
              if p not in stored and batch.tasks[p].judgement is not None]  # fmt: skip
    insert_judgements(cur, dataset_id, job_id, judged)
    duplicates = sorted(batch.repeats + list(stored))
    insert_rejections(
        cur,
        dataset_id,
        job_id,
        stage,
        [
            Rejection(
                reason="exact_duplicate",
                instruction=batch.tasks[p].instruction,
                detail={**batch.tasks[p].provenance, "position": p + 1},
            )
            for p in duplicates
        ],  # fmt: skip
    )
    for name in ("incoming_tasks", "incoming_instances"):
        cur.unregister(name)
    return AddResult(
        received=len(batch.tasks),
        added=batch.task_table.num_rows - len(stored),
        instances_added=kept_instances.num_rows,
        duplicates_skipped=len(duplicates),
        duplicate_positions=tuple(p + 1 for p in duplicates[:_MAX_REPORTED_DUPLICATES]),
    )


def add_tasks(
    store: Store, dataset_id: str, tasks: Sequence[NewTask], *, source: Source, stage: str, job_id: str | None = None
) -> AddResult:
    """Insert tasks in one transaction, skipping exact duplicates (in the batch or already stored).

    Every skipped duplicate is kept in `rejections` with reason `exact_duplicate`. All the Python work
    (fingerprints, Arrow tables) happens before the write lock, so concurrent uploads overlap it with
    each other's inserts; under the lock there is only SQL.
    """
    batch = prepare_batch(tasks)
    with store.write() as cur:
        return insert_batch(cur, store, dataset_id, batch, source=source, stage=stage, job_id=job_id)


def insert_rejections(cur, dataset_id: str, job_id: str | None, stage: str, rows: Sequence[Rejection]) -> None:
    """Keep rejected candidates with their reason."""
    if not rows:
        return
    cur.register(
        "incoming_rejections",
        pa.table(
            {
                "reason": [r.reason for r in rows],
                "instruction": [r.instruction for r in rows],
                "detail": [_json.encode(r.detail).decode() for r in rows],
            }
        ),
    )
    cur.execute(_INSERT_REJECTIONS, [dataset_id, job_id, stage])
    cur.unregister("incoming_rejections")


def page_tasks(store: Store, dataset_id: str, record_filter: RecordFilter, *, after: int, limit: int) -> TaskPage:
    filters, params = filter_clause(record_filter)
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(_PAGE.format(filters=filters), [dataset_id, after, *params, limit + 1]).fetchall()
        judgements = latest_judgements(cur, dataset_id, [row[0] for row in rows[:limit]])
    items = tuple(_row_to_task(row, judgements.get(row[0])) for row in rows[:limit])
    return TaskPage(items=items, next_after=items[-1].id if len(rows) > limit else None)


def _row_to_task(row: tuple, judgement: Judgement | None) -> TaskRecord:
    return TaskRecord(
        id=row[0],
        instruction=row[1],
        source=row[2],
        category=row[3],
        is_classification=row[4],
        provenance=msgspec.json.decode(row[5]),
        created_at=row[6],
        instances=tuple(Instance(input=i["input"], output=i["output"]) for i in row[7] or ()),
        code=_row_to_code_check(row[8:17]),
        category_confidence=row[17],
        judgement=judgement,
        conversation=_row_to_conversation(row[18], row[19]),
    )


def _row_to_conversation(system: str | None, turns: list[dict] | None) -> Conversation | None:
    if turns is None:
        return None
    return Conversation(system=system, turns=tuple(Turn(role=t["role"], content=t["content"]) for t in turns))


def _row_to_code_check(columns: tuple) -> CodeCheck | None:
    entry_point, solution, tests, status, passed, total, duration_s, error, strength = columns
    if entry_point is None:
        return None
    return CodeCheck(
        entry_point=entry_point, solution=solution, tests=tuple(msgspec.json.decode(tests)), status=status,
        tests_passed=passed, tests_total=total, duration_s=duration_s, error=error,
        strength=msgspec.json.decode(strength, type=MutationScore) if strength else None,
    )  # fmt: skip
