from __future__ import annotations

from pathlib import Path

from generators.categories import CategoryModel, label_accuracy, labelled_tasks
from service.defaults import default_seed_bytes
from service.labels import label_report
from store import Store
from store.datasets import create_dataset
from store.ingest.formats import SeedLimits
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds
from store.jobs import dataset_categories
from store.tasks import add_tasks
from tests.store.conftest import task


def test_the_label_report_scores_the_datasets_own_labeller(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "labels.duckdb")
    dataset_id = create_dataset(store, name="labelled").id
    ingest_seeds(store, dataset_id, default_seed_bytes(), "jsonl", SeedLimits(), NearDuplicateCheck())
    generated = [
        task("Write a haiku about snow.", category="writing", category_confidence=0.93),
        task("I am going to send you a package.", category="uncategorized", category_confidence=0.42),
    ]
    add_tasks(store, dataset_id, generated, source="generated", stage="test")  # fmt: skip
    report = label_report(store, dataset_id)
    model = CategoryModel(dataset_categories(store, dataset_id))
    store.close()
    assert report is not None
    assert (report.labelled, report.uncategorized, report.confidence) == (2, 1, {"0.4-0.5": 1, "0.9-1.0": 1})
    assert report.held_out == label_accuracy(model, labelled_tasks())  # the packaged set, default categories
    assert report.seeds_left_out is not None and report.seeds_left_out.total == 120
    assert 0 < report.held_out.covered_accuracy <= 1 and report.held_out.total == len(labelled_tasks())
