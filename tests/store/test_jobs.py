from __future__ import annotations

import pytest

from domain.errors import ConflictError, NotFoundError
from domain.job_spec import JobProgress, JobSpec
from domain.records import CodeCheck, Rejection
from store import Store
from store.dedup.screen import dataset_instruction_texts
from store.jobs import (
    bootstrap_tasks,
    commit_round,
    create_job,
    evol_parents,
    finish_job,
    get_job,
    mark_running,
    request_cancel,
    seed_examples,
    unfinished_jobs,
)
from store.stats import dataset_stats
from store.tasks import add_tasks
from tests.store.conftest import task


def test_job_lifecycle(store: Store, dataset_id: str) -> None:
    job = create_job(store, JobSpec(dataset_id=dataset_id, target=3))
    assert (job.status, job.accepted, job.progress, job.started_at) == ("queued", 0, JobProgress(), None)
    assert job.spec == JobSpec(dataset_id=dataset_id, target=3)  # read back as itself
    mark_running(store, job.id)
    result = commit_round(
        store,
        get_job(store, job.id),
        [task("Generated one."), task("Generated two."), task("generated ONE")],
        [Rejection(reason="too_short", instruction="Hi."), Rejection(reason="banned_word", instruction="Draw a cat.")],
        JobProgress(rounds=1),
    )
    assert (result.added, result.duplicates_skipped) == (2, 1)
    job = get_job(store, job.id)
    assert (job.status, job.accepted, job.progress) == ("running", 2, JobProgress(rounds=1))
    stats = dataset_stats(store, dataset_id)
    assert stats.by_source == {"generated": 2}
    assert stats.rejections_by_reason == {"banned_word": 1, "exact_duplicate": 1, "too_short": 1}
    finish_job(store, job.id, "succeeded", stop_reason="target_reached")
    assert get_job(store, job.id).status == "succeeded" and unfinished_jobs(store) == []


def test_a_failed_commit_leaves_nothing_of_the_round(store: Store, dataset_id: str) -> None:
    job = create_job(store, JobSpec(dataset_id=dataset_id, target=3))
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the transaction
        bad = Rejection(reason="too_short", instruction="x", detail={"bad": object()})
        commit_round(store, job, [task("Kept?")], [bad], JobProgress(rounds=1))
    assert get_job(store, job.id).accepted == 0 and get_job(store, job.id).progress == JobProgress()
    assert dataset_stats(store, dataset_id).rejections == 0


def test_cancel(store: Store, dataset_id: str) -> None:
    queued = create_job(store, JobSpec(dataset_id=dataset_id, target=1))
    assert request_cancel(store, queued.id).status == "cancelled"
    with pytest.raises(ConflictError):
        request_cancel(store, queued.id)
    running = create_job(store, JobSpec(dataset_id=dataset_id, target=1))
    mark_running(store, running.id)
    after = request_cancel(store, running.id)
    assert (after.status, after.cancel_requested) == ("running", True)  # the worker stops it after its round
    assert [j.id for j in unfinished_jobs(store)] == [running.id]
    with pytest.raises(NotFoundError):
        request_cancel(store, "job_missing")


def test_unknown_dataset(store: Store) -> None:
    with pytest.raises(NotFoundError):
        create_job(store, JobSpec(dataset_id="ds_missing", target=1))


def test_proven_code_tasks_are_not_self_instruct_examples(store: Store, dataset_id: str) -> None:
    """Shown to self-instruct, code seeds make it write code tasks whose answers nobody runs."""
    check = CodeCheck(entry_point="double", solution="def double(x):\n    return 2 * x",
                      tests=("assert double(2) == 4",), status="passed", tests_passed=1, tests_total=1,
                      duration_s=0.05)  # fmt: skip
    code_seed = task("Write a Python function `double(x)` that returns twice x.", category="code", code=check)
    add_tasks(store, dataset_id, [task("Name three rivers of Europe.", category="open_qa"), code_seed], source="seed",
              stage="test")  # fmt: skip
    add_tasks(store, dataset_id, [task("List two prime numbers above ten.", category="math")], source="generated",
              stage="test")  # fmt: skip
    # imported records are training data, never few-shot examples
    add_tasks(store, dataset_id, [task("Summarize the plot of Hamlet.", category="summarization")], source="alpaca",
              stage="test")  # fmt: skip
    assert bootstrap_tasks(store, dataset_id) == [
        ("Name three rivers of Europe.", "seed", "open_qa"),
        ("List two prime numbers above ten.", "generated", "math"),
    ]
    assert [e.instruction for e in seed_examples(store, dataset_id)] == ["Name three rivers of Europe."]
    assert len(dataset_instruction_texts(store, dataset_id)[0]) == 4  # still checked for duplicates against all


def test_few_shot_candidates_and_evol_parents_past_the_limit_are_a_sample_drawn_with_the_seed(
    store: Store, dataset_id: str
) -> None:
    seeds = [task(f"Seed task number {n}: describe a {n}-sided shape.", category="open_qa") for n in range(30)]
    generated = [task(f"Generated task number {n}: list {n} colours.") for n in range(12)]
    add_tasks(store, dataset_id, seeds, source="seed", stage="test")
    add_tasks(store, dataset_id, generated, source="generated", stage="test")
    everything = bootstrap_tasks(store, dataset_id)
    assert len(everything) == 42 and bootstrap_tasks(store, dataset_id, seed=9, limit=30) == everything  # up to it
    sample = bootstrap_tasks(store, dataset_id, seed=5, limit=10)
    assert [source for _, source, _ in sample].count("seed") == 10  # 10 of the 30 seeds
    assert [source for _, source, _ in sample].count("generated") == 10  # and 10 of the 12 generated
    assert [row for row in everything if row in sample] == sample  # read back in arrival order
    assert bootstrap_tasks(store, dataset_id, seed=5, limit=10) == sample  # the same seed, the same sample
    assert bootstrap_tasks(store, dataset_id, seed=6, limit=10) != sample  # another seed, another sample
    parents = [example.instruction for _, example, _, _ in evol_parents(store, dataset_id, seed=5, limit=10)]
    assert len(parents) == 10 and parents == [text for text, _, _ in everything if text in parents]  # by id
    assert parents == [p.instruction for _, p, _, _ in evol_parents(store, dataset_id, seed=5, limit=10)]
    assert len(evol_parents(store, dataset_id, seed=5)) == 42  # every task below the limit
