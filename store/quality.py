"""Quality signals in the store: judgements of tasks, a task's current score, and their distributions.

A task's score is its latest *scored* judgement (a later unreadable answer does not erase an earlier score).
Filters (`RecordFilter.min_quality`) and reports read it through `SCORES`, one place.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import pyarrow as pa

from domain.quality import SCALE_MAX, SCALE_MIN, Judgement, LabelStats
from domain.records import DEFAULT_CATEGORY, Example
from store.database import Store
from store.datasets import require_dataset

_json = msgspec.json.Encoder()
# task_id -> its current score (task ids are unique across datasets).
SCORES = "(SELECT task_id, arg_max(score, id) AS score FROM judgements WHERE outcome = 'scored' GROUP BY task_id)"
_DATASET_SCORES = """SELECT arg_max(score, id) FROM judgements WHERE dataset_id = ? AND outcome = 'scored'
                     GROUP BY task_id"""
_LATEST = """
    SELECT j.task_id, j.outcome, j.score, j.criteria, j.method, j.scale_mass, j.judge_model, j.template, j.raw,
           j.error
    FROM judgements j JOIN (SELECT task_id, max(id) AS id FROM judgements WHERE dataset_id = ? AND task_id IN
        (SELECT unnest(?::BIGINT[])) GROUP BY task_id) last ON last.id = j.id
"""
_INSERT = """
    INSERT INTO judgements (task_id, dataset_id, job_id, judge_model, template, outcome, score, criteria, method,
                            scale_mass, raw, error)
    SELECT task_id, ?, ?, judge_model, template, outcome, score, criteria, method, scale_mass, raw, error
    FROM incoming_judgements
"""


_TO_JUDGE = """
    SELECT t.id, t.instruction, t.is_classification, i.input, i.output FROM tasks t
    JOIN instances i ON i.task_id = t.id AND i.dataset_id = t.dataset_id AND i.position = 0
    WHERE t.dataset_id = ? AND t.id > ? AND NOT EXISTS (
        SELECT 1 FROM judgements j WHERE j.task_id = t.id AND j.judge_model = ? AND j.template = ?)
    ORDER BY t.id LIMIT ?
"""


class QualityStats(msgspec.Struct, frozen=True, kw_only=True):
    judged_tasks: int  # tasks with a current score
    outcomes: dict[str, int]  # every judgement by outcome (scored, unreadable, engine_error)
    histogram: dict[str, int]  # current scores in half-point bins of the scale, "1.0-1.5": n
    mean_score: float | None


def insert_judgements(cur, dataset_id: str, job_id: str | None, rows: Sequence[tuple[int, Judgement]]) -> None:
    """Store (task id, judgement) pairs inside the caller's write transaction."""
    if not rows:
        return
    judgements = [j for _, j in rows]
    table = {
        "task_id": pa.array([task_id for task_id, _ in rows], pa.int64()),
        **{field: [getattr(j, field) for j in judgements]
           for field in ("judge_model", "template", "outcome", "score", "method", "scale_mass", "raw", "error")},
        "criteria": [_json.encode(j.criteria).decode() for j in judgements],
    }  # fmt: skip
    cur.register("incoming_judgements", pa.table(table))
    cur.execute(_INSERT, [dataset_id, job_id])
    cur.unregister("incoming_judgements")


def add_judgements(store: Store, dataset_id: str, job_id: str | None, rows: Sequence[tuple[int, Judgement]]) -> None:
    with store.write() as cur:
        require_dataset(cur, dataset_id)
        insert_judgements(cur, dataset_id, job_id, rows)


def tasks_to_judge(
    store: Store, dataset_id: str, *, judge_model: str, template: str, after: int, limit: int
) -> list[tuple[int, Example]]:
    """The next tasks (by id, after `after`) that this judge and rubric have not read yet, with their first instance.

    A resumed judge job starts again from the first id: what it judged before its stop is skipped here.
    """
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(_TO_JUDGE, [dataset_id, after, judge_model, template, limit]).fetchall()
    return [(r[0], Example(instruction=r[1], is_classification=r[2], input=r[3], output=r[4])) for r in rows]


def latest_judgements(cur, dataset_id: str, task_ids: Sequence[int]) -> dict[int, Judgement]:
    """The newest judgement of each task that has one (scored or not: the record shows what happened last)."""
    if not task_ids:
        return {}
    rows = cur.execute(_LATEST, [dataset_id, list(task_ids)]).fetchall()
    return {
        r[0]: Judgement(outcome=r[1], score=r[2], criteria=msgspec.json.decode(r[3]), method=r[4], scale_mass=r[5],
                        judge_model=r[6], template=r[7], raw=r[8], error=r[9])
        for r in rows
    }  # fmt: skip


def _bin(score: float) -> str:
    low = min(SCALE_MIN + int((score - SCALE_MIN) * 2) / 2, SCALE_MAX - 0.5)
    return f"{low:.1f}-{low + 0.5:.1f}"


def quality_stats(store: Store, dataset_id: str) -> QualityStats:
    with store.read() as cur:
        outcomes = dict(cur.execute(
            "SELECT outcome, count(*) FROM judgements WHERE dataset_id = ? GROUP BY 1 ORDER BY 1", [dataset_id]
        ).fetchall())  # fmt: skip
        scores = [r[0] for r in cur.execute(_DATASET_SCORES, [dataset_id]).fetchall()]
    histogram: dict[str, int] = {}
    for score in sorted(scores):
        histogram[_bin(score)] = histogram.get(_bin(score), 0) + 1
    mean = round(sum(scores) / len(scores), 4) if scores else None
    return QualityStats(judged_tasks=len(scores), outcomes=outcomes, histogram=histogram, mean_score=mean)


def tenths(values: list[float]) -> dict[str, int]:
    """Counts of values in [0, 1] by tenth, in order; 1.0 counts in the last bin."""
    counts: dict[str, int] = {}
    for value in sorted(values):
        low = min(int(value * 10), 9) / 10
        key = f"{low:.1f}-{low + 0.1:.1f}"
        counts[key] = counts.get(key, 0) + 1
    return counts


def label_counts(store: Store, dataset_id: str) -> LabelStats:
    """The store's half of the label figures: how confident the labeller was on the generated tasks."""
    with store.read() as cur:  # by tenth in SQL, as `tenths` bins (a stats call must not fetch 1M rows)
        rows = cur.execute(
            """SELECT least(floor(category_confidence * 10), 9)::INTEGER, count(*), count(*) FILTER (category = ?)
               FROM tasks WHERE dataset_id = ? AND source = 'generated' AND category_confidence IS NOT NULL
               GROUP BY 1 ORDER BY 1""",
            [DEFAULT_CATEGORY, dataset_id],
        ).fetchall()
    return LabelStats(labelled=sum(r[1] for r in rows), uncategorized=sum(r[2] for r in rows),
                      confidence={f"{t / 10:.1f}-{t / 10 + 0.1:.1f}": n for t, n, _ in rows})  # fmt: skip


# The seeds a dataset's labeller is built from, by the stats and by every job (`service.labels.labeller_seeds`).
# Seeds are append-only with growing ids, so (count, max id) names them exactly and `id <= max id` reads the same
# ones later.
_LABEL_SEED_STATE = """
    SELECT count(*), coalesce(max(id), 0) FROM tasks
    WHERE dataset_id = ? AND source = 'seed' AND category <> ?
"""
_LABEL_SEEDS = """
    SELECT instruction, category FROM (
        SELECT id, instruction, category FROM tasks
        WHERE dataset_id = ? AND source = 'seed' AND category <> ? AND id <= ?
        ORDER BY ((id % 4294967296)::UBIGINT * 2654435761) % 4294967296, id LIMIT ?
    ) ORDER BY id
"""  # the balance report's verb sample order: the first `limit` under Knuth's hash, spread over the ids


def label_seed_state(store: Store, dataset_id: str) -> tuple[int, int]:
    """(count, max id) of the seeds with a category."""
    with store.read() as cur:
        count, last = cur.execute(_LABEL_SEED_STATE, [dataset_id, DEFAULT_CATEGORY]).fetchall()[0]
    return count, last


def label_seeds(store: Store, dataset_id: str, max_id: int, limit: int) -> list[tuple[str, str]]:
    """(instruction, category) of at most `limit` seeds with a category and an id up to `max_id`, by id."""
    with store.read() as cur:
        return cur.execute(_LABEL_SEEDS, [dataset_id, DEFAULT_CATEGORY, max_id, limit]).fetchall()
