"""The service's shared duplicate screens: built once, caught up from committed rows only, private overlays."""

from __future__ import annotations

import threading

import pytest

from domain.errors import NotFoundError
from store import Store
from store.datasets import create_dataset
from store.dedup import shared_screen
from store.dedup.shared_screen import ScreenCache, SharedScreen
from store.ingest.formats import SeedLimits
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds
from store.tasks import add_tasks
from tests.store.conftest import task

POEM = "Write a short poem about the sea at night."
TIPS = "List three tips for staying healthy during winter."
NEAR_TIPS = "Please list three tips for staying healthy in winter."


def test_a_screen_is_built_once_then_reads_only_what_was_committed_since(
    store: Store, dataset_id: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(shared_screen, "REFRESH_CHUNK", 1)  # the lock is released between chunks
    add_tasks(store, dataset_id, [task(POEM), task(TIPS)], source="seed", stage="upload")
    screen = SharedScreen(dataset_id, 0.7)
    assert screen.refresh(store) == 2
    assert screen.refresh(store) == 0  # nothing new: nothing read again
    add_tasks(store, dataset_id, [task("Explain how a refrigerator works.")], source="seed", stage="upload")
    assert screen.refresh(store) == 1
    assert len(screen.index) == len(screen.fingerprints) == 3


def test_a_views_own_texts_stay_private_until_committed(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, [task(POEM)], source="seed", stage="upload")
    cache = ScreenCache()
    job_view, shared = cache.view(store, dataset_id, 0.7)
    assert job_view.admit(TIPS) is None  # admitted by the job, not committed (say: rejected later, target reached)
    assert job_view.check(NEAR_TIPS).kind == "near"  # the job sees its own candidate
    upload_view, _ = cache.view(store, dataset_id, 0.7)
    assert upload_view.check(NEAR_TIPS) is None  # nobody else does: it never entered the shared screen
    assert upload_view.check(TIPS) is None
    add_tasks(store, dataset_id, [task(TIPS)], source="generated", stage="round")  # now committed
    shared.refresh(store)
    assert upload_view.check(NEAR_TIPS).kind == "near" and upload_view.check(TIPS).kind == "exact"


def test_uploads_through_the_shared_screen_report_what_a_private_rebuild_reports(
    store: Store, dataset_id: str, tmp_path
) -> None:
    uploads = [
        b'{"instruction": "%s", "output": "x"}\n{"instruction": "%s", "output": "y"}' % (POEM.encode(), TIPS.encode()),
        b'{"instruction": "%s", "output": "z"}\n{"instruction": "Write a short poem about the sea at dawn.",'
        b' "output": "w"}' % NEAR_TIPS.encode(),
    ]
    other = Store.open(tmp_path / "other.duckdb")
    other_id = create_dataset(other, name="other").id
    cache = ScreenCache()
    for body in uploads:
        shared = ingest_seeds(store, dataset_id, body, "jsonl", SeedLimits(), NearDuplicateCheck(),
                              screen=lambda: cache.view(store, dataset_id, 0.7)[0])  # fmt: skip
        private = ingest_seeds(other, other_id, body, "jsonl", SeedLimits(), NearDuplicateCheck())
        assert shared.near_duplicates == private.near_duplicates
        assert [(e.position, e.match) for e in shared.near_duplicate_examples] == [
            (e.position, e.match) for e in private.near_duplicate_examples
        ]
    assert shared.near_duplicates == 2  # both seeds of the second upload are close to stored ones
    other.close()


def test_concurrent_uploads_each_see_what_the_others_committed(store: Store, dataset_id: str) -> None:
    cache = ScreenCache()
    errors: list[BaseException] = []

    def upload(n: int) -> None:
        try:
            body = b"\n".join(
                b'{"instruction": "Describe the history of city number %d, part %d, in two sentences.", "output": "o"}'
                % (n, part)
                for part in range(20)
            )
            ingest_seeds(store, dataset_id, body, "jsonl", SeedLimits(), NearDuplicateCheck(),
                         screen=lambda: cache.view(store, dataset_id, 0.7)[0])  # fmt: skip
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=upload, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    shared = cache.shared(dataset_id, 0.7)
    shared.refresh(store)
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM tasks WHERE dataset_id = ?", [dataset_id]).fetchall()[0][0] == 160
    assert len(shared.index) == len(shared.fingerprints) == 160


def test_the_cache_keeps_the_most_recently_used_screens_and_forgets_deleted_datasets(store: Store) -> None:
    cache = ScreenCache(max_screens=2)
    first, second, third = (cache.shared(f"ds_{n}", 0.7) for n in range(3))
    assert cache.shared("ds_2", 0.7) is third and cache.shared("ds_1", 0.7) is second
    assert cache.shared("ds_0", 0.7) is not first  # evicted, built anew
    cache.forget("ds_1")
    assert cache.shared("ds_1", 0.7) is not second
    with pytest.raises(NotFoundError):
        cache.view(store, "ds_missing", 0.7)
