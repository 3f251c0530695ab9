"""What a new installation starts with: the `default` dataset holding the packaged seed tasks."""

from __future__ import annotations

import logging
from importlib.resources import files

from store import Store
from store.datasets import create_dataset, find_dataset_id
from store.ingest.formats import SeedLimits
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds

DEFAULT_DATASET = "default"
log = logging.getLogger("instructforge")


def default_seed_bytes() -> bytes:
    return files("generators").joinpath("seeds", "default_seeds.jsonl").read_bytes()


def ensure_default_dataset(store: Store) -> None:
    """Create `default` with the packaged seeds once; a user who deleted it gets it back at the next start."""
    if find_dataset_id(store, DEFAULT_DATASET) is not None:
        return
    dataset = create_dataset(store, name=DEFAULT_DATASET, description="The seed tasks that ship with InstructForge.")
    report = ingest_seeds(
        store, dataset.id, default_seed_bytes(), "jsonl", SeedLimits(), NearDuplicateCheck(), upload_id="packaged"
    )
    log.info("created dataset %r (%s) with %d seed tasks", DEFAULT_DATASET, dataset.id, report.added)
