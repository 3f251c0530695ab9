from __future__ import annotations

from functools import partial

import anyio
from litestar import Controller, Request, delete, get, post
from litestar.params import JSONBody

from service.bodies import strict_body
from service.dependencies import SettingsDep, StoreDep
from service.errors import error_responses
from service.paging import id_cursor, page_size
from service.params import DatasetCursor, DatasetId, PageLimit
from service.schemas import DatasetCreate, DatasetList, DatasetOut
from store import datasets


class DatasetController(Controller):
    path = "/datasets"
    tags = ["datasets"]

    @post("/", responses=error_responses(400, 401, 409, 413))
    async def create(self, request: Request, store: StoreDep, data: JSONBody[DatasetCreate]) -> DatasetOut:
        spec = await strict_body(request, DatasetCreate)
        create = partial(datasets.create_dataset, store, name=spec.name, description=spec.description)
        return DatasetOut.of(await anyio.to_thread.run_sync(create))

    @get("/", sync_to_thread=True, responses=error_responses(400, 401))
    def list(
        self, store: StoreDep, settings: SettingsDep, cursor: DatasetCursor = None, limit: PageLimit = None
    ) -> DatasetList:
        found = datasets.list_datasets(
            store, after=id_cursor(cursor, "dataset"), limit=page_size(limit, settings.limits)
        )
        return DatasetList(items=[DatasetOut.of(d) for d in found.items], next=found.next_after)

    @get("/{dataset_id:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def read(self, store: StoreDep, dataset_id: DatasetId) -> DatasetOut:
        return DatasetOut.of(datasets.get_dataset(store, dataset_id))

    @delete("/{dataset_id:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def remove(self, request: Request, store: StoreDep, dataset_id: DatasetId) -> None:
        datasets.delete_dataset(store, dataset_id)
        request.app.state.screens.forget(dataset_id)
