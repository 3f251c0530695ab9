"""Label figures for the stats: how confident the labeller was (the store), and how often it is right (the
dataset's own labeller, rebuilt from its seeds, scored on tasks that people labelled).

Rebuilding the labeller costs ~0.17 ms a seed on the 2-core machine (minutes at 1M seeds), so the stats build
it from at most `LABEL_SEED_LIMIT` seeds (all of them in a dataset of up to that many; past it, a sample spread
evenly over the ids, the balance report's order) and keep its scores by the seeds they come from: (dataset,
count and max id of its categorised seeds, config). Seeds are append-only, so the key changes with any seed
added and with nothing else (`store.memo`).
"""

from __future__ import annotations

import msgspec

from domain.job_spec import CategoryConfig
from domain.quality import LabelAccuracy, LabelStats
from domain.records import DEFAULT_CATEGORY
from generators.categories import CategoryModel, label_accuracy, labelled_tasks, leave_one_out_accuracy
from store import Store
from store.memo import Memo
from store.quality import label_counts, label_seed_state, label_seeds

_DEFAULT = CategoryConfig()
LABEL_SEED_LIMIT = 2_000  # ~0.35 s to rebuild from; the first stats call after a seed is added pays it
_SCORES: Memo[tuple[LabelAccuracy | None, LabelAccuracy] | None] = Memo()


def _scores(store: Store, dataset_id: str, max_id: int, config: CategoryConfig) -> tuple | None:
    """(held-out accuracy or None, seeds-left-out accuracy); None when the seeds carry under two categories."""
    seeds = label_seeds(store, dataset_id, max_id, LABEL_SEED_LIMIT)
    if len({category for _, category in seeds}) < 2:
        return None
    model = CategoryModel(seeds, config=config)
    held_out = labelled_tasks()
    # the packaged set fits a dataset that uses its categories (`uncategorized` is its label for non-tasks)
    fits = {category for _, category in held_out} - {DEFAULT_CATEGORY} <= set(model.categories)
    return (label_accuracy(model, held_out) if fits else None), leave_one_out_accuracy(model)


def labeller_seeds(store: Store, dataset_id: str) -> list[tuple[str, str]]:
    """(instruction, category) of the seeds a job's labeller learns from: the ones the stats score it on, so the
    reported accuracy is the accuracy of the labeller jobs use (training on 979,877 seeds took minutes)."""
    _, max_id = label_seed_state(store, dataset_id)
    return label_seeds(store, dataset_id, max_id, LABEL_SEED_LIMIT)


def label_report(store: Store, dataset_id: str, config: CategoryConfig = _DEFAULT) -> LabelStats | None:
    """None for a dataset whose seeds carry no categories (nothing is labelled then)."""
    count, max_id = label_seed_state(store, dataset_id)
    key = (store.path, dataset_id, count, max_id, msgspec.json.encode(config))
    scores = _SCORES.get(key, lambda: _scores(store, dataset_id, max_id, config))
    if scores is None:
        return None
    held_out, left_out = scores
    return msgspec.structs.replace(label_counts(store, dataset_id), held_out=held_out, seeds_left_out=left_out)
