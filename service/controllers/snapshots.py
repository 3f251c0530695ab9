from __future__ import annotations

from pathlib import Path

import anyio
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import File

from service.dependencies import SettingsDep, StoreDep
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

    @post("/", status_code=201)
    async def create(
        self, store: StoreDep, settings: SettingsDep, dataset_id: FromPath[str], data: JSONBody[SnapshotSpec]
    ) -> SnapshotOut:
        """Freeze the dataset's selected records into an immutable, numbered, split snapshot with a manifest."""
        return await anyio.to_thread.run_sync(_create, store, settings, dataset_id, data)

    @get("/", sync_to_thread=True)
    def list(self, store: StoreDep, dataset_id: FromPath[str]) -> SnapshotList:
        return SnapshotList(items=[SnapshotOut.of(s) for s in list_snapshots(store, dataset_id)])


class SnapshotController(Controller):
    path = "/snapshots"
    tags = ["snapshots"]

    @get("/{snapshot_id:str}", sync_to_thread=True)
    def read(self, store: StoreDep, snapshot_id: FromPath[str]) -> SnapshotOut:
        return SnapshotOut.of(get_snapshot(store, snapshot_id))

    @get("/{snapshot_id:str}/files/{name:str}", sync_to_thread=True)
    def download(self, store: StoreDep, snapshot_id: FromPath[str], name: FromPath[str]) -> File:
        path = snapshot_file(store, snapshot_id, name)
        return File(path=path, filename=name, media_type=_MEDIA_TYPES.get(path.suffix, "application/octet-stream"))
