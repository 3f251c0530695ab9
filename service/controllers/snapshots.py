from __future__ import annotations

from pathlib import Path

import anyio
from litestar import Controller, Request, get, post
from litestar.params import JSONBody
from litestar.response import File

from service.bodies import strict_body
from service.dependencies import SettingsDep, StoreDep
from service.errors import error_responses
from service.file_ranges import DOWNLOAD_RESPONSES, file_response
from service.params import DatasetId, FileName, SnapshotId
from service.schemas import SnapshotList, SnapshotOut
from service.settings import Settings
from store import Store
from store.snapshots.snapshot import (
    SnapshotSpec,
    create_snapshot,
    get_snapshot,
    list_snapshots,
    snapshot_file,
)

_MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".md": "text/markdown"}


def _create(store: Store, settings: Settings, dataset_id: str, spec: SnapshotSpec) -> SnapshotOut:
    root = Path(settings.store.data_dir) / "snapshots"
    return SnapshotOut.of(create_snapshot(store, dataset_id, spec, root))


class DatasetSnapshotController(Controller):
    path = "/datasets/{dataset_id:str}/snapshots"
    tags = ["snapshots"]

    @post("/", status_code=201, responses=error_responses(400, 401, 404, 409, 413))
    async def create(
        self, request: Request, store: StoreDep, settings: SettingsDep, dataset_id: DatasetId,
        data: JSONBody[SnapshotSpec],
    ) -> SnapshotOut:  # fmt: skip
        """Freeze the dataset's selected records into an immutable, numbered, split snapshot with a manifest."""
        spec = await strict_body(request, SnapshotSpec)  # `"seed": "5"` is a 400, as for jobs
        return await anyio.to_thread.run_sync(_create, store, settings, dataset_id, spec)

    @get("/", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def list(self, store: StoreDep, dataset_id: DatasetId) -> SnapshotList:
        return SnapshotList(items=[SnapshotOut.of(s) for s in list_snapshots(store, dataset_id)])


class SnapshotController(Controller):
    path = "/snapshots"
    tags = ["snapshots"]

    @get("/{snapshot_id:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def read(self, store: StoreDep, snapshot_id: SnapshotId) -> SnapshotOut:
        return SnapshotOut.of(get_snapshot(store, snapshot_id))

    @get("/{snapshot_id:str}/files/{name:str}", sync_to_thread=True, responses=DOWNLOAD_RESPONSES)
    def download(self, request: Request, store: StoreDep, snapshot_id: SnapshotId, name: FileName) -> File:
        """One file of the snapshot; `If-None-Match` gets a 304 and one `Range: bytes=a-b` a 206 (several: the
        whole file, 200). Annotated `File` for the document's 200; the 304 and 206 are other responses."""
        path = snapshot_file(store, snapshot_id, name)
        media_type = _MEDIA_TYPES.get(path.suffix, "application/octet-stream")
        return file_response(path, name, media_type, request.headers)  # type: ignore[return-value]
