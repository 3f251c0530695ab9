from __future__ import annotations

import pytest

from store import Store
from store.errors import ConflictError, NotFoundError
from store.jobs import commit_round, create_job, finish_job, get_job, mark_running, request_cancel, unfinished_jobs
from store.stats import dataset_stats
from tests.store.conftest import task


def test_job_lifecycle(store: Store, dataset_id: str) -> None:
    job = create_job(store, dataset_id=dataset_id, method="self_instruct", params={"target": 3})
    assert (job.status, job.accepted, job.progress, job.started_at) == ("queued", 0, {}, None)
    mark_running(store, job.id)
    result = commit_round(
        store,
        get_job(store, job.id),
        [task("Generated one."), task("Generated two."), task("generated ONE")],
        [("too_short", "Hi.", {}), ("banned_word", "Draw a cat.", {})],
        {"rounds": 1},
    )
    assert (result.added, result.duplicates_skipped) == (2, 1)
    job = get_job(store, job.id)
    assert (job.status, job.accepted, job.progress) == ("running", 2, {"rounds": 1})
    stats = dataset_stats(store, dataset_id)
    assert stats.by_source == {"generated": 2}
    assert stats.rejections_by_reason == {"banned_word": 1, "exact_duplicate": 1, "too_short": 1}
    finish_job(store, job.id, "succeeded", stop_reason="target_reached")
    assert get_job(store, job.id).status == "succeeded" and unfinished_jobs(store) == []


def test_a_failed_commit_leaves_nothing_of_the_round(store: Store, dataset_id: str) -> None:
    job = create_job(store, dataset_id=dataset_id, method="self_instruct", params={"target": 3})
    with pytest.raises(Exception):  # noqa: B017 - any failure inside the transaction
        commit_round(store, job, [task("Kept?")], [("too_short", "x", {"bad": object()})], {"rounds": 1})
    assert get_job(store, job.id).accepted == 0 and get_job(store, job.id).progress == {}
    assert dataset_stats(store, dataset_id).rejections == 0


def test_cancel(store: Store, dataset_id: str) -> None:
    queued = create_job(store, dataset_id=dataset_id, method="self_instruct", params={"target": 1})
    assert request_cancel(store, queued.id).status == "cancelled"
    with pytest.raises(ConflictError):
        request_cancel(store, queued.id)
    running = create_job(store, dataset_id=dataset_id, method="self_instruct", params={"target": 1})
    mark_running(store, running.id)
    after = request_cancel(store, running.id)
    assert (after.status, after.cancel_requested) == ("running", True)  # the worker stops it after its round
    assert [j.id for j in unfinished_jobs(store)] == [running.id]
    with pytest.raises(NotFoundError):
        request_cancel(store, "job_missing")


def test_unknown_dataset(store: Store) -> None:
    with pytest.raises(NotFoundError):
        create_job(store, dataset_id="ds_missing", method="self_instruct", params={"target": 1})
