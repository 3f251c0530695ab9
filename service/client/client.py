"""The typed client: one method per endpoint, answers decoded into the API's own msgspec Structs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import msgspec

from domain.job_spec import JobSpec
from service.client.core import Core
from service.client.errors import APIError
from service.client.events import OnUpdate, wait_for_job
from service.client.files import ExportResult, PullResult, export_to_file, pull_snapshot
from service.client.imports import Imports
from service.schemas import DatasetList, DatasetOut, JobList, JobOut, SnapshotList, SnapshotOut
from store.export import ExportFormat
from store.ingest.seeds import SeedReport
from store.snapshots.snapshot import SnapshotSpec
from store.stats import DatasetStats

_JSON = {"content-type": "application/json"}


def _drop_none(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if v is not None}


class Datasets:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create(self, name: str, description: str = "") -> DatasetOut:
        body = msgspec.json.encode({"name": name, "description": description})
        return self._core.call("POST", "/v1/datasets", DatasetOut, content=body, headers=_JSON)

    def list(self, cursor: str | None = None, limit: int | None = None) -> DatasetList:
        params = _drop_none({"cursor": cursor, "limit": limit})
        return self._core.call("GET", "/v1/datasets", DatasetList, params=params)

    def iter(self) -> Iterator[DatasetOut]:
        """Every dataset, page after page."""
        cursor = None
        while True:
            page = self.list(cursor=cursor)
            yield from page.items
            if page.next is None:
                return
            cursor = page.next

    def get(self, dataset_id: str) -> DatasetOut:
        return self._core.call("GET", f"/v1/datasets/{dataset_id}", DatasetOut)

    def resolve(self, id_or_name: str) -> DatasetOut:
        """A dataset by id, or by name when no id matches (what a person types)."""
        try:
            return self.get(id_or_name)
        except APIError as exc:
            if exc.status_code not in (400, 404):
                raise
        for dataset in self.iter():
            if dataset.name == id_or_name:
                return dataset
        raise APIError(404, "dataset_not_found", f"no dataset has the id or name {id_or_name!r}")


class Seeds:
    def __init__(self, core: Core) -> None:
        self._core = core

    def upload(self, dataset_id: str, data: bytes | Path, content_type: str = "application/x-ndjson") -> SeedReport:
        """Add seed tasks: JSON Lines bytes (or a JSON array with content_type application/json), or a file."""
        body = Path(data).read_bytes() if isinstance(data, Path) else data
        return self._core.call("POST", f"/v1/datasets/{dataset_id}/seeds", SeedReport, content=body,
                               headers={"content-type": content_type})  # fmt: skip


class Jobs:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create(self, spec: JobSpec, idempotency_key: str | None = None) -> JobOut:
        """Queue a job; with an idempotency key, a retried request answers the first job instead of a second."""
        headers = dict(_JSON) | ({"idempotency-key": idempotency_key} if idempotency_key else {})
        return self._core.call("POST", "/v1/jobs", JobOut, content=msgspec.json.encode(spec), headers=headers)

    def get(self, job_id: str) -> JobOut:
        return self._core.call("GET", f"/v1/jobs/{job_id}", JobOut)

    def list(self, dataset_id: str | None = None, cursor: str | None = None, limit: int | None = None) -> JobList:
        params = _drop_none({"dataset_id": dataset_id, "cursor": cursor, "limit": limit})
        return self._core.call("GET", "/v1/jobs", JobList, params=params)

    def cancel(self, job_id: str) -> JobOut:
        return self._core.call("POST", f"/v1/jobs/{job_id}/cancel", JobOut)

    def wait(
        self, job_id: str, on_update: OnUpdate | None = None, *, poll_s: float = 1.0, timeout_s: float | None = None
    ) -> JobOut:
        """Follow the job's events (or poll it) until it finished; see service.client.events."""
        return wait_for_job(self._core, job_id, on_update, poll_s=poll_s, timeout_s=timeout_s)


class Snapshots:
    def __init__(self, core: Core) -> None:
        self._core = core

    def create(self, dataset_id: str, spec: SnapshotSpec | None = None) -> SnapshotOut:
        body = msgspec.json.encode(spec or SnapshotSpec())
        path = f"/v1/datasets/{dataset_id}/snapshots"
        return self._core.call("POST", path, SnapshotOut, content=body, headers=_JSON)

    def get(self, snapshot_id: str) -> SnapshotOut:
        return self._core.call("GET", f"/v1/snapshots/{snapshot_id}", SnapshotOut)

    def list(self, dataset_id: str) -> SnapshotList:
        return self._core.call("GET", f"/v1/datasets/{dataset_id}/snapshots", SnapshotList)

    def pull(self, snapshot_id: str, folder: Path | str) -> PullResult:
        """Download every file of the snapshot into `folder`, checking each data file's SHA-256; atomic."""
        return pull_snapshot(self._core, self.get(snapshot_id), Path(folder))


class Client:
    """InstructForge over HTTP. `url` defaults to INSTRUCTFORGE_URL, then http://127.0.0.1:8000; `api_key` to
    INSTRUCTFORGE_API_KEY (sent as `Authorization: Bearer`). `transport` is any httpx transport (tests pass an
    httpx.MockTransport or the app's own). Close it, or use it as a context manager."""

    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        self._core = Core(url, api_key=api_key, transport=transport, timeout_s=timeout_s)
        self.url = self._core.url
        self.datasets = Datasets(self._core)
        self.seeds = Seeds(self._core)
        self.imports = Imports(self._core)
        self.jobs = Jobs(self._core)
        self.snapshots = Snapshots(self._core)

    def stats(self, dataset_id: str, balance: bool = True) -> DatasetStats:
        params = {"balance": "true" if balance else "false"}
        return self._core.call("GET", f"/v1/datasets/{dataset_id}/stats", DatasetStats, params=params)

    def export(
        self, dataset_id: str, path: Path | str, format: ExportFormat = "alpaca", **filters: str | bool | float | None
    ) -> ExportResult:
        """Stream the dataset as NDJSON into `path` (complete or absent). Filters: source, category,
        classification, min_quality, as the export endpoint takes them."""
        params = {k: str(v).lower() if isinstance(v, bool) else v for k, v in _drop_none(filters).items()}
        return export_to_file(self._core, dataset_id, Path(path), {"format": format, **params})

    def close(self) -> None:
        self._core.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
