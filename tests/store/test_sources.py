from __future__ import annotations

import pytest

from domain.errors import NotFoundError
from domain.records import NewTask
from store import Store
from store.sources import dataset_sources, source_and_category_names, sources_report
from store.tasks import add_tasks
from tests.store.conftest import task


def add_import(store: Store, dataset_id: str, import_id: str, source: str, license: str, *, url: str | None = None,
               status: str = "succeeded", rows: int = 0, added: int = 0) -> None:  # fmt: skip
    """An `imports` row as the import use case leaves it (the tests need only the columns sources read)."""
    with store.write() as cur:
        cur.execute(
            "INSERT INTO imports (id, dataset_id, source, license, url, layout, file_format, options, status, rows, "
            "added) VALUES (?, ?, ?, ?, ?, 'alpaca', 'jsonl', '{}', ?, ?, ?)",
            [import_id, dataset_id, source, license, url, status, rows, added],
        )


def add_imported(store: Store, dataset_id: str, source: str, import_id: str | None, tasks: list[NewTask]) -> None:
    """Tasks of a source, pointed at their import (as the import use case stores them)."""
    add_tasks(store, dataset_id, tasks, source=source, stage="t")
    with store.write() as cur:
        cur.execute("UPDATE tasks SET import_id = ? WHERE dataset_id = ? AND source = ?",
                    [import_id, dataset_id, source])  # fmt: skip


def unanswered(instruction: str) -> NewTask:
    return NewTask(instruction=instruction, instances=())


@pytest.fixture
def mixed(store: Store, dataset_id: str) -> str:
    """3 alpaca tasks (one with no answer yet), 2 dolly tasks over two imports, 1 seed, 1 generated."""
    add_import(store, dataset_id, "im_a", "alpaca", "CC-BY-NC-4.0", url="https://example.org/alpaca", rows=4, added=3)
    add_import(store, dataset_id, "im_failed", "alpaca", "MIT", status="failed", rows=9)
    add_imported(store, dataset_id, "alpaca", "im_a",
                 [task("Name a colour"), task("Name a fruit", input="x"), unanswered("Name a river")])  # fmt: skip
    add_import(store, dataset_id, "im_d1", "dolly", "CC-BY-SA-3.0", url="https://example.org/dolly", rows=1, added=1)
    add_import(store, dataset_id, "im_d2", "dolly", "CC-BY-SA-3.0", rows=2, added=1)
    add_imported(store, dataset_id, "dolly", "im_d1", [task("Explain rain")])
    add_tasks(store, dataset_id, [task("Explain snow")], source="dolly", stage="t")
    with store.write() as cur:
        cur.execute("UPDATE tasks SET import_id = 'im_d2' WHERE instruction = 'Explain snow'")
    add_tasks(store, dataset_id, [task("Write a haiku")], source="seed", stage="t")
    add_tasks(store, dataset_id, [NewTask(instruction="Sort a list", instances=(
        *task("x").instances, *task("y", "another").instances))], source="generated", stage="t")  # fmt: skip
    return dataset_id


def test_per_source_counts_licences_urls_and_succeeded_imports_only(store: Store, mixed: str) -> None:
    by_source = {s.source: s for s in dataset_sources(store, mixed)}
    assert list(by_source) == ["alpaca", "dolly", "generated", "seed"]
    alpaca = by_source["alpaca"]
    assert (alpaca.tasks, alpaca.answered_tasks, alpaca.instances) == (3, 2, 2)
    assert (alpaca.licenses, alpaca.urls, alpaca.imports, alpaca.rows_imported, alpaca.tasks_added) == (
        ("CC-BY-NC-4.0",), ("https://example.org/alpaca",), 1, 4, 3)  # the failed MIT import does not count
    dolly = by_source["dolly"]
    assert (dolly.tasks, dolly.licenses, dolly.imports, dolly.rows_imported, dolly.tasks_added) == (
        2, ("CC-BY-SA-3.0",), 2, 3, 2)
    assert (by_source["generated"].instances, by_source["generated"].licenses) == (2, ("NOASSERTION",))
    assert by_source["generated"].note and by_source["seed"].licenses == ("NOASSERTION",)
    assert alpaca.share == round(3 / 7, 4) and sum(s.tasks for s in by_source.values()) == 7


def test_a_selection_counts_its_tasks_and_the_imports_they_came_from(store: Store, mixed: str) -> None:
    with store.read() as cur:
        ids = dict(cur.execute("SELECT instruction, id FROM tasks WHERE dataset_id = ?", [mixed]).fetchall())
    chosen = [ids["Name a colour"], ids["Explain snow"], ids["Write a haiku"]]
    by_source = {s.source: s for s in dataset_sources(store, mixed, chosen)}
    assert {n: (s.tasks, s.share) for n, s in by_source.items()} == {
        "alpaca": (1, 0.3333), "dolly": (1, 0.3333), "seed": (1, 0.3333)}
    assert (by_source["dolly"].imports, by_source["dolly"].urls, by_source["dolly"].rows_imported) == (1, (), 2)
    assert dataset_sources(store, mixed, []) == []


def test_tasks_that_name_no_import_count_every_import_of_their_source(store: Store, dataset_id: str) -> None:
    add_import(store, dataset_id, "im_1", "oasst", "Apache-2.0", rows=5, added=5)
    add_import(store, dataset_id, "im_2", "oasst", "CC-BY-4.0", rows=5, added=5)
    add_imported(store, dataset_id, "oasst", None, [task("Say hi")])
    with store.read() as cur:
        (task_id,) = cur.execute("SELECT id FROM tasks").fetchone()
    (oasst,) = dataset_sources(store, dataset_id, [task_id])
    assert (oasst.licenses, oasst.imports) == (("Apache-2.0", "CC-BY-4.0"), 2)


def test_the_report_warns_about_the_mix(store: Store, mixed: str) -> None:
    report = sources_report(store, mixed)
    assert [w.code for w in report.licence_warnings] == [
        "non_commercial", "share_alike_non_commercial", "attribution_required", "generated_terms", "seed_terms"]
    assert "not legal advice" in report.licence_note


def test_names_and_a_missing_dataset(store: Store, mixed: str) -> None:
    with store.read() as cur:
        assert source_and_category_names(cur, mixed) == ({"alpaca", "dolly", "seed", "generated"}, {"uncategorized"})
    with pytest.raises(NotFoundError):
        dataset_sources(store, "ds_missing")
