"""Label figures for the stats: how confident the labeller was (the store), and how often it is right (the
dataset's own labeller, rebuilt from its seeds, scored on tasks that people labelled)."""

from __future__ import annotations

import msgspec

from domain.job_spec import CategoryConfig
from domain.quality import LabelStats
from domain.records import DEFAULT_CATEGORY
from generators.categories import CategoryModel, label_accuracy, labelled_tasks, leave_one_out_accuracy
from store import Store
from store.jobs import dataset_categories
from store.quality import label_counts

_DEFAULT = CategoryConfig()


def label_report(store: Store, dataset_id: str, config: CategoryConfig = _DEFAULT) -> LabelStats | None:
    """None for a dataset whose seeds carry no categories (nothing is labelled then)."""
    seeds = dataset_categories(store, dataset_id)
    if len({category for _, category in seeds}) < 2:
        return None
    model = CategoryModel(seeds, config=config)
    held_out = labelled_tasks()
    # the packaged set fits a dataset that uses its categories (`uncategorized` is its label for non-tasks)
    fits = {category for _, category in held_out} - {DEFAULT_CATEGORY} <= set(model.categories)
    return msgspec.structs.replace(
        label_counts(store, dataset_id),
        held_out=label_accuracy(model, held_out) if fits else None,
        seeds_left_out=leave_one_out_accuracy(model),
    )
