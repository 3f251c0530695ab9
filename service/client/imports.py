"""Imports over HTTP: a file streamed to `POST /v1/datasets/{id}/imports` (never read whole), and the records."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import msgspec

from domain.imports import ImportSpec
from service.client.core import Core
from service.schemas import ImportList
from store.imports import ImportRecord
from store.ingest.imports import ImportReport

_CHUNK = 1 << 20
_MEDIA_TYPES = {".parquet": "application/vnd.apache.parquet", ".json": "application/json"}


def _chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            yield chunk


def spec_params(spec: ImportSpec) -> dict[str, str]:
    """The spec as the endpoint's query: `mapping` as JSON text, defaults left out."""
    params = {}
    for name, value in msgspec.structs.asdict(spec).items():
        if value is None:
            continue
        params[name] = msgspec.json.encode(value).decode() if name == "mapping" else str(value)
    return params


class Imports:
    def __init__(self, core: Core) -> None:
        self._core = core

    def upload(self, dataset_id: str, path: Path | str, spec: ImportSpec) -> ImportReport:
        """Import the file at `path` (streamed); waits for the import to end, however long it takes."""
        path = Path(path)
        headers = {"content-type": _MEDIA_TYPES.get(path.suffix.lower(), "application/x-ndjson"),
                   "content-length": str(path.stat().st_size)}  # fmt: skip
        return self._core.call("POST", f"/v1/datasets/{dataset_id}/imports", ImportReport,
                               params=spec_params(spec), content=_chunks(path), headers=headers,
                               timeout=None)  # fmt: skip

    def list(self, dataset_id: str) -> ImportList:
        return self._core.call("GET", f"/v1/datasets/{dataset_id}/imports", ImportList)

    def get(self, dataset_id: str, import_id: str) -> ImportRecord:
        return self._core.call("GET", f"/v1/datasets/{dataset_id}/imports/{import_id}", ImportRecord)
