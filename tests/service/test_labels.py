from __future__ import annotations

from pathlib import Path

import pytest

from generators.categories import CategoryModel, label_accuracy, labelled_tasks, leave_one_out_accuracy
from service import labels
from service.defaults import default_seed_bytes
from service.labels import label_report
from store import Store
from store.datasets import create_dataset
from store.ingest.formats import SeedLimits
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds
from store.quality import label_seed_state, label_seeds
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
    model = CategoryModel(labels.labeller_seeds(store, dataset_id))  # the labeller a job builds
    store.close()
    assert report is not None
    assert (report.labelled, report.uncategorized, report.confidence) == (2, 1, {"0.4-0.5": 1, "0.9-1.0": 1})
    assert report.held_out == label_accuracy(model, labelled_tasks())  # the packaged set, default categories
    assert report.seeds_left_out is not None and report.seeds_left_out.total == 120
    assert 0 < report.held_out.covered_accuracy <= 1 and report.held_out.total == len(labelled_tasks())


def test_the_labellers_scores_are_kept_until_a_seed_is_added_and_built_from_a_bounded_sample(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.open(tmp_path / "labels.duckdb")
    try:
        dataset_id = create_dataset(store, name="labelled").id
        ingest_seeds(store, dataset_id, default_seed_bytes(), "jsonl", SeedLimits(), NearDuplicateCheck())
        first = label_report(store, dataset_id)
        assert first is not None and first.seeds_left_out is not None
        add_tasks(store, dataset_id, [task("Generated: write a haiku about rain.", category="writing",
                                           category_confidence=0.9)], source="generated", stage="test")  # fmt: skip
        again = label_report(store, dataset_id)  # a generated task: the same scores, a new count
        assert again is not None and (again.held_out, again.seeds_left_out) == (first.held_out, first.seeds_left_out)
        assert (again.labelled, first.labelled) == (1, 0)
        add_tasks(store, dataset_id, [task("Compose a sonnet about the moon.", category="writing")], source="seed",
                  stage="test")  # fmt: skip
        grown = label_report(store, dataset_id)
        assert grown is not None and grown.seeds_left_out is not None
        assert grown.seeds_left_out.total == first.seeds_left_out.total + 1  # the new seed is in
        monkeypatch.setattr(labels, "LABEL_SEED_LIMIT", 50)
        add_tasks(store, dataset_id, [task("Pen a short ode to autumn.", category="writing")], source="seed",
                  stage="test")  # fmt: skip
        sampled = label_report(store, dataset_id)
        _, max_id = label_seed_state(store, dataset_id)
        model = CategoryModel(label_seeds(store, dataset_id, max_id, 50))
    finally:
        store.close()
    assert sampled is not None and sampled.seeds_left_out == leave_one_out_accuracy(model)
    assert sampled.seeds_left_out.total == 50
