"""Answers an `annotate` job writes: which stored tasks need one, and the write that keeps what it replaced.

`instances` always holds a task's current answer, so every reader, export and snapshot sees the new one with
no change; `annotations` keeps, per answer written, the job, model and template that wrote it and `previous`,
what it replaced: for `no_answer` the instances as a list of {input, output} (`[]`: there were none), for
`failed_checks` {"instances": [...], "quality_flags": [...]} (the old flags described the old answer).
A task's provenance gains `annotated: {job, model, template, ...}`.

Proven code tasks (their answer passed its tests in the sandbox) and chats of more than one exchange (later
turns answer the first answer: replacing it alone would break the chat) are never selected.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from domain.annotations import AnnotateItem, AnnotateReason, AnnotateTargets, Answer
from domain.records import Example, Instance, Source
from store.database import Store
from store.datasets import require_dataset
from store.quality import insert_judgements

_json = msgspec.json.Encoder()
_FLAGGED = "coalesce(json_array_length(json_extract(t.provenance, '$.quality_flags')), 0) > 0"
_UNANSWERED = "NOT EXISTS (SELECT 1 FROM instances i WHERE i.task_id = t.id AND i.dataset_id = t.dataset_id)"
_TO_ANNOTATE = f"""
    SELECT t.id, t.instruction, t.is_classification, NOT {_UNANSWERED},
           EXISTS (SELECT 1 FROM conversations v WHERE v.task_id = t.id)
    FROM tasks t
    WHERE t.dataset_id = $dataset AND t.id > $after AND ($source IS NULL OR t.source = $source)
      AND (($no_answer AND {_UNANSWERED}) OR ($failed AND {_FLAGGED}))
      AND NOT EXISTS (SELECT 1 FROM code_checks c WHERE c.task_id = t.id)
      AND NOT EXISTS (SELECT 1 FROM conversations v WHERE v.task_id = t.id
                      AND len(list_filter(v.turns, lambda x: x.role = 'assistant')) > 1)
    ORDER BY t.id LIMIT $limit
"""
_INSTANCES = """
    SELECT task_id, list({'input': input, 'output': output} ORDER BY position) FROM instances
    WHERE dataset_id = ? AND task_id IN (SELECT unnest(?::BIGINT[])) GROUP BY task_id
"""
_INSERT_ANNOTATION = """
    INSERT INTO annotations (task_id, dataset_id, job_id, model, template, reason, previous)
    VALUES (?, ?, ?, ?, ?, ?, ?)
"""


def _instances(cur, dataset_id: str, task_ids: list[int]) -> dict[int, tuple[Instance, ...]]:
    if not task_ids:
        return {}
    rows = cur.execute(_INSTANCES, [dataset_id, task_ids]).fetchall()
    return {task_id: tuple(Instance(input=i["input"], output=i["output"]) for i in listed) for task_id, listed in rows}


def tasks_to_annotate(
    store: Store, dataset_id: str, *, targets: AnnotateTargets, source: Source | None, after: int, limit: int
) -> list[AnnotateItem]:
    """The next tasks (by id, after `after`) that `targets` selects, with the answer each has now.

    A task with no instance is `no_answer` (even if it carries flags); one with instances is `failed_checks`.
    """
    params = {"dataset": dataset_id, "after": after, "source": source, "limit": limit,
              "no_answer": targets != "failed_checks", "failed": targets != "no_answer"}  # fmt: skip
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(_TO_ANNOTATE, params).fetchall()
        answers = _instances(cur, dataset_id, [r[0] for r in rows if r[3]])
    return [
        AnnotateItem(task_id=r[0], instruction=r[1], is_classification=r[2],
                     reason="failed_checks" if r[3] else "no_answer", previous=answers.get(r[0], ()),
                     in_chat=r[4])
        for r in rows
    ]  # fmt: skip


def _current(cur, dataset_id: str, task_id: int) -> tuple[dict[str, Any], tuple[Instance, ...]] | None:
    """The task's provenance and instances as they are inside this transaction; None if it is gone."""
    rows = cur.execute("SELECT provenance FROM tasks WHERE id = ? AND dataset_id = ?", [task_id, dataset_id]).fetchall()
    if not rows:
        return None
    return msgspec.json.decode(rows[0][0]), _instances(cur, dataset_id, [task_id]).get(task_id, ())


def _pairs(instances: Sequence[Instance]) -> list[dict[str, str]]:
    return [{"input": i.input, "output": i.output} for i in instances]


def _replace_instances(cur, dataset_id: str, answer: Answer) -> None:
    cur.execute("DELETE FROM instances WHERE task_id = ? AND dataset_id = ?", [answer.task_id, dataset_id])
    cur.executemany(
        """INSERT INTO instances (task_id, position, dataset_id, input, output, input_chars, output_chars)
           VALUES (?, ?, ?, ?, ?, ?, ?)""",
        [[answer.task_id, n, dataset_id, i.input, i.output, len(i.input), len(i.output)]
         for n, i in enumerate(answer.instances)],
    )  # fmt: skip


def _update_conversation(cur, dataset_id: str, answer: Answer) -> None:
    """A chat kept whole says the new answer too: its first assistant turn is the task's first output."""
    rows = cur.execute(
        "SELECT turns FROM conversations WHERE task_id = ? AND dataset_id = ?", [answer.task_id, dataset_id]
    ).fetchall()
    if not rows:
        return
    turns = [dict(t) for t in rows[0][0]]
    output = answer.instances[0].output
    first = next((n for n, t in enumerate(turns) if t["role"] == "assistant"), None)
    if first is None:
        turns.append({"role": "assistant", "content": output})
    else:
        turns[first]["content"] = output
    cur.execute(
        "UPDATE conversations SET turns = ?::STRUCT(role VARCHAR, content VARCHAR)[] WHERE task_id = ? "
        "AND dataset_id = ?", [turns, answer.task_id, dataset_id],
    )  # fmt: skip


def _provenance(before: dict[str, Any], answer: Answer, job_id: str, flagged_before: bool) -> dict[str, Any]:
    provenance = {**before, "annotated": {"job": job_id, "model": answer.model, "template": answer.template,
                                          **answer.notes}}  # fmt: skip
    if flagged_before or answer.quality_flags:  # the old flags described the old answer: the new one's replace them
        provenance["quality_flags"] = list(answer.quality_flags)
    return provenance


def _write_one(cur, dataset_id: str, job_id: str, answer: Answer) -> bool:
    """Write one answer; False (nothing written) when the task has an unflagged answer now, or is gone."""
    current = _current(cur, dataset_id, answer.task_id)
    if current is None:
        return False
    provenance, instances = current
    flags = provenance.get("quality_flags") or []
    if instances and not flags:  # another job answered it meanwhile, and its answer passed
        return False
    reason: AnnotateReason = "failed_checks" if instances else "no_answer"
    previous: Any = {"instances": _pairs(instances), "quality_flags": flags} if instances else []
    _replace_instances(cur, dataset_id, answer)
    _update_conversation(cur, dataset_id, answer)
    cur.execute(_INSERT_ANNOTATION, [answer.task_id, dataset_id, job_id, answer.model, answer.template, reason,
                                     _json.encode(previous).decode()])  # fmt: skip
    text_chars = sum(len(answer.instruction) + len(i.input) + len(i.output) for i in answer.instances)
    cur.execute(
        "UPDATE tasks SET provenance = ?, text_chars = ? WHERE id = ? AND dataset_id = ?",
        [_json.encode(_provenance(provenance, answer, job_id, bool(flags))).decode(), text_chars, answer.task_id,
         dataset_id],
    )  # fmt: skip
    if answer.judgement is not None:
        insert_judgements(cur, dataset_id, job_id, [(answer.task_id, answer.judgement)])
    return True


def write_answers(cur, dataset_id: str, job_id: str, answers: Sequence[Answer]) -> list[Answer]:
    """Write `answers` inside the caller's write transaction (the round's commit); return those skipped.

    Each task's instances are replaced, the replaced ones kept in an `annotations` row with what wrote the new
    answer, and its provenance says so. A task another job answered meanwhile (instances, no flags) is skipped.
    """
    return [answer for answer in answers if not _write_one(cur, dataset_id, job_id, answer)]


def answered_examples(store: Store, dataset_id: str, limit: int = 500) -> list[Example]:
    """Answered tasks whose answer passed the checks, with their first instance, for few-shot instance prompts
    where a dataset has no seeds (an import-only one). Proven code stays out, as from self-instruct's examples."""
    with store.read() as cur:
        rows = cur.execute(
            f"""SELECT t.instruction, t.is_classification, i.input, i.output FROM tasks t
                JOIN instances i ON i.task_id = t.id AND i.dataset_id = t.dataset_id AND i.position = 0
                WHERE t.dataset_id = ? AND NOT {_FLAGGED}
                  AND NOT EXISTS (SELECT 1 FROM code_checks c WHERE c.task_id = t.id)
                ORDER BY t.id LIMIT ?""",
            [dataset_id, limit],
        ).fetchall()
    return [Example(instruction=r[0], is_classification=r[1], input=r[2], output=r[3]) for r in rows]


def annotation_history(store: Store, task_id: int) -> list[dict[str, Any]]:
    """Every answer an annotate job wrote for a task, oldest first, with what each replaced."""
    with store.read() as cur:
        rows = cur.execute(
            """SELECT job_id, model, template, reason, previous, created_at FROM annotations
               WHERE task_id = ? ORDER BY created_at, rowid""",
            [task_id],
        ).fetchall()
    return [
        {"job_id": r[0], "model": r[1], "template": r[2], "reason": r[3], "previous": msgspec.json.decode(r[4]),
         "created_at": r[5]}
        for r in rows
    ]  # fmt: skip
