from __future__ import annotations

from litestar import Controller, delete, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from service.dependencies import SettingsDep, StoreDep
from service.paging import page_size
from service.schemas import DatasetCreate, DatasetList, DatasetOut
from store import datasets


class DatasetController(Controller):
    path = "/datasets"
    tags = ["datasets"]

    @post("/", sync_to_thread=True)
    def create(self, store: StoreDep, data: JSONBody[DatasetCreate]) -> DatasetOut:
        return DatasetOut.of(datasets.create_dataset(store, name=data.name, description=data.description))

    @get("/", sync_to_thread=True)
    def list(
        self,
        store: StoreDep,
        settings: SettingsDep,
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
    ) -> DatasetList:
        found = datasets.list_datasets(store, after=cursor, limit=page_size(limit, settings.limits))
        return DatasetList(items=[DatasetOut.of(d) for d in found.items], next=found.next_after)

    @get("/{dataset_id:str}", sync_to_thread=True)
    def read(self, store: StoreDep, dataset_id: FromPath[str]) -> DatasetOut:
        return DatasetOut.of(datasets.get_dataset(store, dataset_id))

    @delete("/{dataset_id:str}", sync_to_thread=True)
    def remove(self, store: StoreDep, dataset_id: FromPath[str]) -> None:
        datasets.delete_dataset(store, dataset_id)
