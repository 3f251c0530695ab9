"""Generation jobs: their state lives here, so a restart finds every job where it was."""

from __future__ import annotations

import secrets
import time
from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import duckdb
import msgspec

from domain.annotations import Answer
from domain.errors import ConflictError, NotFoundError
from domain.job_spec import JobProgress, JobSpec
from domain.quality import Judgement
from domain.records import GENERATED_SOURCE, SEED_SOURCE, Example, NewTask, Rejection
from store.annotations import write_answers
from store.database import Store
from store.datasets import require_dataset
from store.quality import insert_judgements
from store.records import AddResult
from store.tasks import insert_batch, insert_rejections, prepare_batch
from store.webhooks import WebhookEventKind, queue_webhook

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: tuple[JobStatus, ...] = ("succeeded", "failed", "cancelled")
_json = msgspec.json.Encoder()


class JobRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    method: str
    status: JobStatus
    spec: JobSpec  # what was asked for, exactly as it was validated
    progress: JobProgress
    cancel_requested: bool
    stop_reason: str | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    accepted: int  # tasks in the store that this job produced: the truth after any crash


_COLUMNS = (
    "id, dataset_id, method, status, params, progress, cancel_requested, stop_reason, error, created_at, started_at,"
    " finished_at, updated_at,"
    # What a job produced: tasks, or for a judge job the judgements it wrote, for an annotate job its answers.
    " CASE WHEN j.method = 'judge' THEN (SELECT count(*) FROM judgements g WHERE g.job_id = j.id)"
    " WHEN j.method = 'annotate' THEN (SELECT count(*) FROM annotations a WHERE a.job_id = j.id)"
    " ELSE (SELECT count(*) FROM tasks t WHERE t.job_id = j.id) END"
)
_SELECT = f"SELECT {_COLUMNS} FROM jobs j"


def _row_to_job(row: tuple) -> JobRecord:
    fields = dict(zip(JobRecord.__struct_fields__, row, strict=True))
    fields["spec"] = msgspec.json.decode(fields["spec"], type=JobSpec)
    fields["progress"] = msgspec.json.decode(fields["progress"], type=JobProgress)
    return JobRecord(**fields)


def new_job_id() -> str:
    return f"job_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(4)}"


def _insert_job(cur: duckdb.DuckDBPyConnection, job_id: str, spec: JobSpec) -> None:
    require_dataset(cur, spec.dataset_id)
    cur.execute(
        "INSERT INTO jobs (id, dataset_id, method, status, params) VALUES (?, ?, ?, 'queued', ?)",
        [job_id, spec.dataset_id, spec.method, _json.encode(spec).decode()],
    )


def _queue_webhook(cur: duckdb.DuckDBPyConnection, job_id: str, event: WebhookEventKind) -> None:
    """After a status change, in its transaction: the job as it now is, for its webhook if it has one."""
    job = _row_to_job(cur.execute(_SELECT + " WHERE id = ?", [job_id]).fetchall()[0])
    if job.spec.webhook is not None:
        queue_webhook(cur, job_id, event, job.status, _json.encode(job).decode())


def create_job(store: Store, spec: JobSpec) -> JobRecord:
    job_id = new_job_id()
    with store.write() as cur:
        _insert_job(cur, job_id, spec)
    return get_job(store, job_id)


def create_job_once(store: Store, spec: JobSpec, key: str, request_sha256: str) -> tuple[JobRecord, bool]:
    """The job an idempotency key names, and whether it existed: made at the key's first use, found after.

    The key's primary key settles a race: the request that commits second fails the insert, rolls back its
    job with it, and answers the job the first one made. The same key with another request is a conflict.
    """
    job_id = new_job_id()
    try:
        with store.write() as cur:
            cur.execute(
                "INSERT INTO job_idempotency_keys (key, job_id, request_sha256) VALUES (?, ?, ?)",
                [key, job_id, request_sha256],
            )
            _insert_job(cur, job_id, spec)
        return get_job(store, job_id), False
    except duckdb.ConstraintException:
        pass
    with store.read() as cur:
        job_id, stored_sha256 = cur.execute(
            "SELECT job_id, request_sha256 FROM job_idempotency_keys WHERE key = ?", [key]
        ).fetchall()[0]
    if stored_sha256 != request_sha256:
        raise ConflictError(
            "this Idempotency-Key was used with a different request", code="idempotency_key_reused",
            extra={"job_id": job_id},
        )  # fmt: skip
    return get_job(store, job_id), True


def get_job(store: Store, job_id: str) -> JobRecord:
    with store.read() as cur:
        rows = cur.execute(_SELECT + " WHERE id = ?", [job_id]).fetchall()
    if not rows:
        raise NotFoundError(f"no job with id {job_id!r}", code="job_not_found")
    return _row_to_job(rows[0])


def list_jobs(store: Store, *, after: str | None, limit: int, dataset_id: str | None = None) -> list[JobRecord]:
    """Jobs in creation order after the cursor; one more than `limit` tells that another page follows."""
    sql, params = _SELECT + " WHERE id > ?", [after or ""]
    if dataset_id is not None:
        sql, params = sql + " AND dataset_id = ?", [*params, dataset_id]
    with store.read() as cur:
        return [_row_to_job(r) for r in cur.execute(sql + " ORDER BY id LIMIT ?", [*params, limit + 1]).fetchall()]


def unfinished_jobs(store: Store) -> list[JobRecord]:
    """Queued and running jobs, oldest first: what the worker owes after a start or a crash."""
    with store.read() as cur:
        rows = cur.execute(_SELECT + " WHERE status IN ('queued', 'running') ORDER BY id").fetchall()
    return [_row_to_job(r) for r in rows]


def request_cancel(store: Store, job_id: str) -> JobRecord:
    """A queued job is cancelled at once; a running one stops after its current round."""
    with store.write() as cur:
        rows = cur.execute("SELECT status FROM jobs WHERE id = ?", [job_id]).fetchall()
        if not rows:
            raise NotFoundError(f"no job with id {job_id!r}", code="job_not_found")
        if rows[0][0] in FINISHED:
            raise ConflictError(f"job {job_id} has already finished ({rows[0][0]})", code="job_finished")
        cur.execute(
            """UPDATE jobs SET cancel_requested = true, updated_at = current_timestamp,
                   status = CASE WHEN status = 'queued' THEN 'cancelled' ELSE status END,
                   stop_reason = CASE WHEN status = 'queued' THEN 'cancelled' ELSE stop_reason END,
                   finished_at = CASE WHEN status = 'queued' THEN current_timestamp ELSE finished_at END
               WHERE id = ?""",
            [job_id],
        )
        if rows[0][0] == "queued":
            _queue_webhook(cur, job_id, "end")
    return get_job(store, job_id)


def mark_running(store: Store, job_id: str) -> None:
    with store.write() as cur:
        before = cur.execute("SELECT status FROM jobs WHERE id = ?", [job_id]).fetchall()[0][0]
        cur.execute(
            """UPDATE jobs SET status = 'running', started_at = coalesce(started_at, current_timestamp),
                   updated_at = current_timestamp WHERE id = ?""",
            [job_id],
        )
        if before != "running":  # a job resumed after a restart was running already: one event per change
            _queue_webhook(cur, job_id, "status")


def finish_job(store: Store, job_id: str, status: JobStatus, *, stop_reason: str, error: str | None = None) -> None:
    with store.write() as cur:
        cur.execute(
            """UPDATE jobs SET status = ?, stop_reason = ?, error = ?, finished_at = current_timestamp,
                   updated_at = current_timestamp WHERE id = ?""",
            [status, stop_reason, error, job_id],
        )
        _queue_webhook(cur, job_id, "end")


def commit_round(
    store: Store,
    job: JobRecord,
    accepted: Sequence[NewTask],
    rejections: Sequence[Rejection],
    progress: JobProgress,
    judged: Sequence[tuple[int, Judgement]] = (),
    annotated: Sequence[Answer] = (),
) -> AddResult:
    """One round, all or nothing: its tasks (or a judge job's judgements, an annotate job's answers), its
    rejections and the progress. An answer to a task that another job answered meanwhile is a rejection.

    A crash before the commit loses only the round in flight; after it, the round is whole in the file.
    """
    batch = prepare_batch(accepted)
    with store.write() as cur:
        result = insert_batch(cur, store, job.dataset_id, batch, source="generated", stage=job.method, job_id=job.id)
        insert_judgements(cur, job.dataset_id, job.id, judged)
        skipped = write_answers(cur, job.dataset_id, job.id, annotated)
        late = [Rejection(reason="already_answered", instruction=a.instruction, detail={"task_id": a.task_id})
                for a in skipped]  # fmt: skip
        insert_rejections(cur, job.dataset_id, job.id, job.method, [*rejections, *late])
        cur.execute(
            "UPDATE jobs SET progress = ?, updated_at = current_timestamp WHERE id = ?",
            [_json.encode(progress).decode(), job.id],
        )
    return result


def job_rejections(store: Store, job_id: str) -> dict[str, int]:
    with store.read() as cur:
        rows = cur.execute(
            "SELECT reason, count(*) FROM rejections WHERE job_id = ? GROUP BY reason ORDER BY count(*) DESC, reason",
            [job_id],
        ).fetchall()
    return dict(rows)


def dataset_instructions(store: Store, dataset_id: str) -> list[tuple[str, str]]:
    """(instruction, source) of every task, in arrival order: the pool a generation job starts from."""
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        return cur.execute(
            "SELECT instruction, source FROM tasks WHERE dataset_id = ? ORDER BY id", [dataset_id]
        ).fetchall()


# Tasks the code method proved (the packaged code seeds, generated code tasks) are not shown to self-instruct:
# once a code job has run they are a quarter of the default seed pool, and self-instruct copies its examples,
# so it would write code tasks whose answers nobody runs (the code method is there to prove them).
_NOT_PROVEN_CODE = "NOT EXISTS (SELECT 1 FROM code_checks c WHERE c.task_id = t.id)"


# Few-shot candidates a job loads, per source (seed, generated): past this many, a sample drawn with the job's seed.
# A prompt shows 6 seed and 2 generated tasks (the paper's mix), so 10,000 of each give a job of 100,000 prompts
# ~60 showings per seed, each in a list of its own. Reading all of 979,877 seeds took 1.5 s and held them all
# at every job start (bench/job_start_bench.py); a dataset of normal size (hundreds of seeds) loads all of them.
FEW_SHOT_CANDIDATES = 10_000
# One source's sample: the first `limit` tasks in the hash order of (id, seed), a top-N scan (no full sort).
# The hash is DuckDB's, fixed for a given build: the same seed draws the same sample of the same tasks, so a
# resumed job shows what it would have shown; another seed draws another sample.
_SAMPLE_OF_SOURCE = f"""(SELECT id FROM tasks t WHERE dataset_id = ? AND source = ? AND {_NOT_PROVEN_CODE}
                         ORDER BY hash(id, ?::BIGINT), id LIMIT ?)"""


def bootstrap_tasks(
    store: Store, dataset_id: str, *, seed: int = 0, limit: int = FEW_SHOT_CANDIDATES
) -> list[tuple[str, str, str]]:
    """(instruction, source, category) in arrival order of the tasks self-instruct may show as examples.

    Seed and generated tasks only: imported records are training data, not few-shot examples (and a large
    import would otherwise be read into memory at every job start to be dropped). Each source gives all its
    tasks up to `limit`, past it a sample of `limit` drawn with `seed`.
    """
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        return cur.execute(
            f"""SELECT instruction, source, category FROM tasks
               WHERE id IN ({_SAMPLE_OF_SOURCE} UNION ALL {_SAMPLE_OF_SOURCE}) ORDER BY id""",
            [dataset_id, SEED_SOURCE, seed, limit, dataset_id, GENERATED_SOURCE, seed, limit],
        ).fetchall()


def job_category_counts(store: Store, job_id: str) -> dict[str, int]:
    with store.read() as cur:
        return dict(
            cur.execute("SELECT category, count(*) FROM tasks WHERE job_id = ? GROUP BY 1", [job_id]).fetchall()
        )


def seed_examples(store: Store, dataset_id: str, limit: int = 500) -> list[Example]:
    """Seed tasks with one instance each, for few-shot instance prompts (not proven code: see above)."""
    with store.read() as cur:
        rows = cur.execute(
            f"""SELECT t.instruction, t.is_classification, i.input, i.output FROM tasks t
               JOIN instances i ON i.task_id = t.id AND i.position = 0
               WHERE t.dataset_id = ? AND t.source = 'seed' AND {_NOT_PROVEN_CODE} ORDER BY t.id LIMIT ?""",
            [dataset_id, limit],
        ).fetchall()
    return [Example(instruction=r[0], is_classification=r[1], input=r[2], output=r[3]) for r in rows]


def evol_parents(
    store: Store, dataset_id: str, *, seed: int = 0, limit: int = FEW_SHOT_CANDIDATES
) -> list[tuple[int, Example, str, int]]:
    """(task id, task with its first instance, category, evolution depth) of the tasks that may evolve, by id:
    all of them up to `limit`, past it a sample of `limit` drawn with `seed` (as `bootstrap_tasks`).

    Proven code tasks stay out, as from self-instruct's examples: their rewrites would be code nobody runs.
    """
    answered = f"""tasks t JOIN instances i ON i.task_id = t.id AND i.position = 0
                   WHERE t.dataset_id = ? AND {_NOT_PROVEN_CODE}"""
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(
            f"""SELECT t.id, t.instruction, t.is_classification, i.input, i.output, t.category,
                       coalesce(TRY_CAST(json_extract(t.provenance, '$.evol_depth') AS INTEGER), 0)
                FROM {answered}
                AND t.id IN (SELECT t.id FROM {answered} ORDER BY hash(t.id, ?::BIGINT), t.id LIMIT ?) ORDER BY t.id""",
            [dataset_id, dataset_id, seed, limit],
        ).fetchall()
    return [
        (r[0], Example(instruction=r[1], is_classification=r[2], input=r[3], output=r[4]), r[5], r[6]) for r in rows
    ]
