"""`GET /v1/datasets/{id}/composition`: length histograms and the root verbs with their objects (the dashboard's)."""

from __future__ import annotations

from litestar import get

from service.dependencies import StoreDep
from service.errors import error_responses
from service.params import DatasetId
from store.composition import Composition, dataset_composition


@get(
    "/datasets/{dataset_id:str}/composition", sync_to_thread=True, tags=["datasets"],
    responses=error_responses(400, 401, 404),
)  # fmt: skip
def composition(store: StoreDep, dataset_id: DatasetId) -> Composition:
    """Instruction, input and output lengths (characters) in bins, and the top 20 root verbs with their top 4
    direct objects, as a table and as sunburst nodes; verbs from a sample of at most 20,000 instructions."""
    return dataset_composition(store, dataset_id)
