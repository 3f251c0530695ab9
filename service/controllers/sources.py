"""`GET /v1/datasets/{id}/sources`: where the dataset's tasks came from, with the licences of their imports."""

from __future__ import annotations

from litestar import get

from service.dependencies import StoreDep
from service.errors import error_responses
from service.params import DatasetId
from store.sources import SourcesReport, sources_report


@get(
    "/datasets/{dataset_id:str}/sources",
    sync_to_thread=True,
    tags=["datasets"],
    responses=error_responses(400, 401, 404),
)
def sources(store: StoreDep, dataset_id: DatasetId) -> SourcesReport:
    """Per source ("seed", "generated", or an import's name): tasks, answered tasks, instances, share, and the
    licences, URLs and row counts of its succeeded imports; then licence notes on mixing them (non-commercial,
    no-derivatives, share-alike conflicts, unknown licences, attribution). The notes are not legal advice."""
    return sources_report(store, dataset_id)
