from __future__ import annotations

import duckdb
import pytest

from domain.errors import NotFoundError
from store import Store
from store.datasets import create_dataset
from store.records import RecordFilter
from store.tasks import add_tasks, page_tasks
from tests.store.conftest import task


def _rejections(store: Store) -> list[tuple]:
    with store.read() as cur:
        return cur.execute(
            "SELECT reason, stage, instruction, detail->>'position' FROM rejections ORDER BY id"
        ).fetchall()


def test_add_tasks_stores_tasks_and_instances(store: Store, dataset_id: str) -> None:
    result = add_tasks(
        store,
        dataset_id,
        [task("Name a color.", "Blue"), task("Add the numbers.", "5", input="2 3")],
        source="seed",
        stage="test",
    )
    assert (result.received, result.added, result.instances_added, result.duplicates_skipped) == (2, 2, 2, 0)
    page = page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10)
    assert [(t.instruction, t.instances[0].input, t.instances[0].output) for t in page.items] == [
        ("Name a color.", "", "Blue"),
        ("Add the numbers.", "2 3", "5"),
    ]
    assert page.next_after is None


def test_variants_inside_one_batch_are_skipped_and_kept_as_rejections(store: Store, dataset_id: str) -> None:
    batch = [task("Name a color."), task("name a COLOR"), task("Name two colors."), task("  Name a color!! ")]
    result = add_tasks(store, dataset_id, batch, source="seed", stage="seed_upload")
    assert (result.added, result.duplicates_skipped, result.duplicate_positions) == (2, 2, (2, 4))
    assert _rejections(store) == [
        ("exact_duplicate", "seed_upload", "name a COLOR", "2"),
        ("exact_duplicate", "seed_upload", "  Name a color!! ", "4"),
    ]


def test_duplicates_of_stored_tasks_are_skipped(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, [task("Name a color.")], source="seed", stage="test")
    result = add_tasks(
        store, dataset_id, [task("Write a haiku."), task("NAME A COLOR")], source="generated", stage="test"
    )
    assert (result.added, result.duplicates_skipped, result.duplicate_positions) == (1, 1, (2,))
    assert [t.instruction for t in page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10).items] == [
        "Name a color.",
        "Write a haiku.",
    ]


def test_the_same_instruction_may_live_in_two_datasets(store: Store, dataset_id: str) -> None:
    other = create_dataset(store, name="other").id
    add_tasks(store, dataset_id, [task("Name a color.")], source="seed", stage="test")
    assert add_tasks(store, other, [task("Name a color.")], source="seed", stage="test").added == 1


def test_unknown_dataset_is_not_found_and_writes_nothing(store: Store) -> None:
    with pytest.raises(NotFoundError) as raised:
        add_tasks(store, "ds_missing", [task("Name a color.")], source="seed", stage="test")
    assert raised.value.code == "dataset_not_found"
    with store.read() as cur:
        assert cur.execute("SELECT count(*) FROM tasks").fetchall() == [(0,)]


def test_failed_batch_rolls_back_whole(store: Store, dataset_id: str) -> None:
    with pytest.raises(duckdb.ConstraintException):
        add_tasks(store, dataset_id, [task("Name a color.")], source="", stage="test")  # violates the CHECK
    with store.read() as cur:
        assert cur.execute("SELECT (SELECT count(*) FROM tasks), (SELECT count(*) FROM instances)").fetchall() == [
            (0, 0)
        ]
    assert add_tasks(store, dataset_id, [task("Name a color.")], source="seed", stage="test").added == 1


def test_keyset_pages_cover_everything_once_in_order(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, [task(f"Task number {n}.") for n in range(25)], source="seed", stage="test")
    seen, after = [], 0
    while True:
        page = page_tasks(store, dataset_id, RecordFilter(), after=after, limit=10)
        seen += [t.instruction for t in page.items]
        if page.next_after is None:
            break
        after = page.next_after
    assert seen == [f"Task number {n}." for n in range(25)]


def test_filters(store: Store, dataset_id: str) -> None:
    add_tasks(
        store,
        dataset_id,
        [
            task("Is it spam?", "no", is_classification=True, category="classification"),
            task("Write a haiku.", category="writing"),
        ],
        source="seed",
        stage="test",
    )
    add_tasks(store, dataset_id, [task("Write a limerick.", category="writing")], source="generated", stage="test")

    def instructions(**kwargs) -> list[str]:
        return [t.instruction for t in page_tasks(store, dataset_id, RecordFilter(**kwargs), after=0, limit=10).items]

    assert instructions(source="generated") == ["Write a limerick."]
    assert instructions(category="writing") == ["Write a haiku.", "Write a limerick."]
    assert instructions(is_classification=True) == ["Is it spam?"]
    assert instructions(category="writing", source="seed") == ["Write a haiku."]
    assert instructions(category="nothing") == []


def test_task_ids_keep_increasing_after_reopen(tmp_path) -> None:
    path = tmp_path / "ids.duckdb"
    store = Store.open(path)
    ds = create_dataset(store, name="d").id
    add_tasks(store, ds, [task("One."), task("Two.")], source="seed", stage="test")
    store.close()
    store = Store.open(path)
    add_tasks(store, ds, [task("Three.")], source="seed", stage="test")
    ids = [t.id for t in page_tasks(store, ds, RecordFilter(), after=0, limit=10).items]
    store.close()
    assert ids == sorted(ids) and len(set(ids)) == 3


def test_concurrent_writers_never_duplicate_or_lose_a_task(store: Store, dataset_id: str) -> None:
    """Four threads upload overlapping batches at once: every distinct instruction is stored exactly once."""
    from concurrent.futures import ThreadPoolExecutor

    batches = [[task(f"Overlapping task {n}.") for n in range(start, start + 300)] for start in (0, 100, 200, 300)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda batch: add_tasks(store, dataset_id, batch, source="seed", stage="t"), batches))
    assert sum(r.added for r in results) == 600
    assert sum(r.duplicates_skipped for r in results) == 1200 - 600
    with store.read() as cur:
        assert cur.execute(
            "SELECT count(*), count(DISTINCT fingerprint), count(DISTINCT id) FROM tasks"
        ).fetchall() == [(600, 600, 600)]
        assert cur.execute("SELECT count(*) FROM rejections").fetchall() == [(600,)]
