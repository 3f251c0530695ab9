"""Imports of open datasets: `POST /v1/datasets/{id}/imports` (the body is the file), and the imports as recorded.

The body streams to a file under <data_dir>/imports (never whole in memory; bounded by
`INSTRUCTFORGE_MAX_IMPORT_BYTES`, 413 beyond), then `store.ingest.imports.import_file` reads it in a worker thread.
The request waits for the import to end; meanwhile `GET .../imports` shows it `staging` with its progress.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import PathParameter, QueryParameter

from domain.errors import InvalidInputError
from domain.imports import LAYOUTS, FieldMapping, ImportSpec
from domain.names import check_name
from service.dependencies import SettingsDep, StoreDep
from service.errors import CodedHTTPException, error_responses
from service.openapi import ImportUploadOperation
from service.params import MAX_NAME_CHARS, NAME_PATTERN, DatasetId
from service.schemas import ImportList
from service.settings import MAX_IMPORT_BYTES_BOUND, Settings
from store import Store
from store.datasets import dataset_size, ensure_dataset
from store.imports import ImportRecord, get_import, list_imports
from store.ingest.formats import SeedLimits
from store.ingest.imports import ImportLimits, ImportReport, import_file

_Text = Annotated[str | None, QueryParameter(min_length=1, max_length=2000)]
ImportId = Annotated[str, PathParameter(min_length=1, max_length=64, pattern=r"^imp_[0-9a-f]+$")]


def _spec(params: dict[str, Any]) -> ImportSpec:
    """The query as an ImportSpec; `mapping` is JSON text. A bad value is a 400 that names it."""
    values = {name: value for name, value in params.items() if value is not None}
    try:
        if "mapping" in values:
            values["mapping"] = msgspec.json.decode(values["mapping"], type=FieldMapping)
        return msgspec.convert(values, ImportSpec)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise InvalidInputError(f"invalid import parameters: {exc}", code="invalid_import") from None


async def _spool(request: Request, folder: Path, limit: int) -> Path:
    """The body, written to a new file in `folder` as it arrives; 413 past `limit` bytes (the file is removed)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    path, written = Path(name), 0
    try:
        with os.fdopen(handle, "wb") as out:
            async for chunk in request.stream():
                written += len(chunk)
                if written > limit:
                    raise CodedHTTPException(413, "upload_too_large", f"the file is larger than {limit} bytes")
                await anyio.to_thread.run_sync(out.write, chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path


def _run(store: Store, settings: Settings, screens: Any, dataset_id: str, path: Path, spec: ImportSpec) -> ImportReport:
    limits = settings.limits
    import_limits = ImportLimits(
        records=SeedLimits(max_instruction_chars=limits.max_instruction_chars, max_text_chars=limits.max_text_chars,
                           max_instances=limits.max_instances_per_task),
        near_duplicate_max_tasks=limits.import_near_duplicate_max_tasks,
    )  # fmt: skip
    screen = lambda: screens.view(store, dataset_id, limits.near_duplicate_threshold)[0]  # noqa: E731
    try:
        return import_file(store, dataset_id, path, spec, import_limits, screen=screen,
                           stored_tasks=dataset_size(store, dataset_id))  # fmt: skip
    finally:
        path.unlink(missing_ok=True)


class ImportController(Controller):
    path = "/datasets/{dataset_id:str}/imports"
    tags = ["imports"]

    @post(
        "/",
        status_code=200,
        responses=error_responses(400, 401, 404, 413),
        operation_class=ImportUploadOperation,
        request_max_body_size=MAX_IMPORT_BYTES_BOUND,  # the setting is enforced while spooling
    )
    async def create(
        self,
        request: Request,
        store: StoreDep,
        settings: SettingsDep,
        dataset_id: DatasetId,
        source: Annotated[str, QueryParameter(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN,
                                              description="the records' source name (not seed or generated)")],
        license: _Text = None,  # noqa: A002 - the query parameter's name
        url: _Text = None,
        layout: Annotated[str | None, QueryParameter(description=f"{', '.join(LAYOUTS)}; detected if absent")] = None,
        mapping: _Text = None,
        file_format: Annotated[str | None, QueryParameter(description="jsonl, json or parquet; else sniffed")] = None,
        turns: Annotated[str | None, QueryParameter(description="all (default) or first")] = None,
        near_duplicates: Annotated[str | None, QueryParameter(description="skip (default), keep or off")] = None,
        default_category: Annotated[str | None, QueryParameter(min_length=1, max_length=64)] = None,
    ) -> ImportReport:
        """Import a file of an open dataset (JSON Lines, a JSON array or Parquet; Alpaca, Dolly, self-instruct,
        ShareGPT, messages, prompt/completion, or any layout through a field mapping).

        All or nothing: one bad row rejects the import with every bad row's number and reason. Near-duplicates of
        the dataset's tasks (any source) or of earlier rows are left out (`near_duplicates=skip`), and the answer
        says how many rows duplicate each source.
        """
        check_name(source, "source")
        spec = _spec({"source": source, "license": license, "url": url, "layout": layout, "mapping": mapping,
                      "file_format": file_format, "turns": turns, "near_duplicates": near_duplicates,
                      "default_category": default_category})  # fmt: skip
        await anyio.to_thread.run_sync(ensure_dataset, store, dataset_id)  # 404 before reading the body
        folder = Path(settings.store.data_dir) / "imports"
        path = await _spool(request, folder, settings.limits.max_import_bytes)
        screens = request.app.state.screens
        return await anyio.to_thread.run_sync(_run, store, settings, screens, dataset_id, path, spec)

    @get("/", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def list(self, store: StoreDep, dataset_id: DatasetId) -> ImportList:
        """The dataset's imports, oldest first: a running one is `staging`, with its progress."""
        return ImportList(items=list_imports(store, dataset_id))

    @get("/{import_id:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def read(self, store: StoreDep, dataset_id: DatasetId, import_id: ImportId) -> ImportRecord:
        """One import: source, licence, layout, status, progress, and its report once it ended."""
        return get_import(store, dataset_id, import_id)
