from __future__ import annotations

import anyio
import msgspec
from litestar import Controller, Request, delete, get, post

from service.dependencies import StoreDep
from service.errors import error_responses
from service.openapi import BenchmarkUploadOperation
from service.params import BenchmarkName, NgramSize
from store.contamination.benchmarks import (
    BenchmarkInfo,
    delete_benchmark,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
)


class BenchmarkList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BenchmarkInfo]


class BenchmarkController(Controller):
    """Reference benchmarks (HumanEval/MBPP-style JSON Lines) that snapshots are decontaminated against."""

    path = "/benchmarks"
    tags = ["benchmarks"]

    @post("/", status_code=201, responses=error_responses(400, 401, 409, 413), operation_class=BenchmarkUploadOperation)
    async def register(
        self, store: StoreDep, request: Request, name: BenchmarkName, ngram: NgramSize = 13,
    ) -> BenchmarkInfo:  # fmt: skip
        """Register a benchmark: the body is JSON Lines; every string value of a record is benchmark text."""
        body = await request.body()
        return await anyio.to_thread.run_sync(lambda: register_benchmark(store, name, body, ngram=ngram))

    @get("/", sync_to_thread=True, responses=error_responses(401))
    def list(self, store: StoreDep) -> BenchmarkList:
        return BenchmarkList(items=list(list_benchmarks(store)))

    @get("/{name:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def read(self, store: StoreDep, name: BenchmarkName) -> BenchmarkInfo:
        return get_benchmark(store, name)

    @delete("/{name:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def remove(self, store: StoreDep, name: BenchmarkName) -> None:
        delete_benchmark(store, name)
