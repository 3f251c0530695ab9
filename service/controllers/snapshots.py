from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import anyio
import msgspec
from litestar import Controller, get, post
from litestar.params import FromPath, JSONBody
from litestar.response import File

from service.dependencies import SettingsDep, StoreDep
from service.settings import Settings
from store import Store
from store.snapshots import (
    SNAPSHOT_DOCUMENTS,
    Snapshot,
    SnapshotSpec,
    create_snapshot,
    get_snapshot,
    list_snapshots,
    snapshot_file,
)

_MEDIA_TYPES = {".jsonl": "application/x-ndjson", ".json": "application/json", ".md": "text/markdown"}


class SnapshotFileOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    sha256: str
    records: int
    bytes: int
    url: str


class SnapshotDocumentOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    url: str


class SnapshotOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    number: int
    format: str
    created_at: datetime
    content_sha256: str
    files: list[SnapshotFileOut]  # the data, with the hashes the manifest holds
    documents: list[SnapshotDocumentOut]  # manifest, LLaMA-Factory entry, data card: with `files`, the folder
    counts: dict[str, Any]
    manifest: dict[str, Any]

    @classmethod
    def of(cls, snapshot: Snapshot) -> SnapshotOut:
        manifest = snapshot.manifest
        files = [
            SnapshotFileOut(name=name, url=f"/v1/snapshots/{snapshot.id}/files/{name}", **entry)
            for name, entry in manifest["files"].items()
        ]
        documents = [SnapshotDocumentOut(name=name, url=f"/v1/snapshots/{snapshot.id}/files/{name}")
                     for name in SNAPSHOT_DOCUMENTS]  # fmt: skip
        return cls(id=snapshot.id, dataset_id=snapshot.dataset_id, number=snapshot.number, format=snapshot.format,
                   created_at=snapshot.created_at, content_sha256=manifest["content_sha256"], files=files,
                   documents=documents, counts=manifest["counts"], manifest=manifest)  # fmt: skip


class SnapshotList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SnapshotOut]


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
