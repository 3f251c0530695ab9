"""A dataset's duplicate screen, loaded from the store: its fingerprints and a near-duplicate index.

The one place where jobs and seed uploads get the state that `domain.screening.DuplicateScreen` checks
new instructions against. Signatures are recomputed rather than stored (bench/dedup_bench.py times it:
about 2 s per 100k tasks); fingerprints are read from their column.
"""

from __future__ import annotations

from typing import Any

from domain.screening import NEAR_DUPLICATE_THRESHOLD, DuplicateScreen
from store.database import Store
from store.datasets import require_dataset
from store.dedup.near_duplicates import NearDuplicateIndex

_INSTRUCTIONS = "SELECT instruction, fingerprint FROM tasks WHERE dataset_id = ? ORDER BY id"


def dataset_instruction_texts(store: Store, dataset_id: str) -> tuple[list[str], set[int]]:
    """Every stored instruction in arrival order, and their fingerprints."""
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        table = cur.sql(_INSTRUCTIONS, params=[dataset_id]).to_arrow_table()
    return table.column(0).to_pylist(), set(table.column(1).to_pylist())


def open_screen(
    store: Store,
    dataset_id: str,
    threshold: float = NEAR_DUPLICATE_THRESHOLD,
    *,
    semantic_threshold: float | None = None,
    **index_params: Any,
) -> DuplicateScreen:
    """The screen over a dataset's stored instructions (at a job's start or resume, or for an upload).

    `semantic_threshold` adds the embedding tier behind the lexical one (it loads a model: off by default);
    `index_params` are NearDuplicateIndex's keyword parameters.
    """
    texts, fingerprints = dataset_instruction_texts(store, dataset_id)
    index: Any = NearDuplicateIndex(threshold, texts, **index_params)
    if semantic_threshold is not None:
        from store.dedup.semantic import SemanticIndex, TieredIndex  # loads torch: only when asked for

        index = TieredIndex(index, SemanticIndex(semantic_threshold, texts))
    return DuplicateScreen(fingerprints, index)
