"""Seed uploads screen through the service's shared screen: no index rebuilt per upload, no check under the lock."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

import store.dedup.screen as screen_module
import store.ingest.seeds as seeds_module
from domain.job_spec import JobSpec
from domain.records import Instance, NewTask
from service.methods import open_method
from store import Store
from store.datasets import create_dataset
from store.dedup.shared_screen import ScreenCache
from store.jobs import create_job
from store.tasks import add_tasks

NDJSON = {"content-type": "application/x-ndjson"}


def test_uploads_never_rebuild_the_index_and_check_outside_the_write_lock(
    client: TestClient, dataset_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_rebuild(*args, **kwargs):
        raise AssertionError("an upload rebuilt the dataset's screen")

    checked_under_lock: list[bool] = []
    real_check = seeds_module.near_duplicate_seeds

    def check(screen, seeds):
        store = client.app.state.store
        checked_under_lock.append(store._write_lock.locked())
        return real_check(screen, seeds)

    monkeypatch.setattr(screen_module, "open_screen", no_rebuild)
    monkeypatch.setattr(seeds_module, "open_screen", no_rebuild)
    monkeypatch.setattr(seeds_module, "near_duplicate_seeds", check)
    url = f"/v1/datasets/{dataset_id}/seeds"
    body = b'{"instruction": "List three tips for staying healthy in winter.", "output": "a"}'
    first = client.post(url, content=body, headers=NDJSON)
    assert first.status_code == 200, first.text
    near = client.post(url, content=b'{"instruction": "List three tips for staying healthy during winter.", '
                       b'"output": "b"}', headers=NDJSON).json()  # fmt: skip
    assert near["near_duplicates"] == 1  # the first upload's task, seen through the shared screen
    assert near["near_duplicate_examples"][0]["match"] == "List three tips for staying healthy in winter."
    shared = client.app.state.screens.shared(dataset_id, 0.7)
    assert len(shared.index) == 1  # caught up with the first upload; the second is not in yet
    assert checked_under_lock == [False, False]


def test_deleting_a_dataset_drops_its_screen(client: TestClient, dataset_id: str) -> None:
    client.post(f"/v1/datasets/{dataset_id}/seeds", content=b'{"instruction": "Name a color.", "output": "red"}',
                headers=NDJSON)  # fmt: skip
    screens = client.app.state.screens
    kept = screens.shared(dataset_id, 0.7)
    assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
    assert screens.shared(dataset_id, 0.7) is not kept


def test_a_job_and_uploads_see_each_others_committed_tasks_and_no_rejected_ones(tmp_path) -> None:
    store = Store.open(tmp_path / "jobs.duckdb")
    dataset_id = create_dataset(store, name="d").id

    def task(text: str) -> NewTask:
        return NewTask(instruction=text, instances=(Instance(output="x"),))

    add_tasks(store, dataset_id, [task("Write a short poem about the sea at night.")], source="seed", stage="upload")
    screens = ScreenCache()
    job = create_job(store, JobSpec(dataset_id=dataset_id, target=5))
    method = open_method(store, job, sandbox=None, screens=screens)  # type: ignore[arg-type]
    # an upload commits while the job runs; the job sees it at its next round
    add_tasks(store, dataset_id, [task("List three tips for staying healthy in winter.")], source="seed", stage="up")
    assert method.screen.check("List three tips for staying healthy in winter.") is None
    method.catch_up()
    assert method.screen.check("List three tips for staying healthy in winter.").kind == "exact"
    # the job admits a candidate that is then rejected (never committed): no other screen ever sees it
    assert method.screen.admit("Explain how a refrigerator keeps food cold.") is None
    upload_view, shared = screens.view(store, dataset_id, 0.7)
    assert upload_view.check("Explain how a refrigerator keeps food cold.") is None
    # the job's committed task reaches uploads
    add_tasks(store, dataset_id, [task("Describe a sunrise over the mountains.")], source="generated", stage="round")
    shared.refresh(store)
    assert upload_view.check("Describe a sunrise over the mountains.").kind == "exact"
    store.close()
