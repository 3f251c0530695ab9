from __future__ import annotations

from typing import Annotated

import anyio
import msgspec
from litestar import Controller, Request, delete, get, post
from litestar.params import FromPath, FromQuery
from msgspec import Meta

from service.dependencies import StoreDep
from store.contamination.benchmarks import (
    BenchmarkInfo,
    delete_benchmark,
    get_benchmark,
    list_benchmarks,
    register_benchmark,
)

BenchmarkName = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class BenchmarkList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[BenchmarkInfo]


class BenchmarkController(Controller):
    """Reference benchmarks (HumanEval/MBPP-style JSON Lines) that snapshots are decontaminated against."""

    path = "/benchmarks"
    tags = ["benchmarks"]

    @post("/", status_code=201)
    async def register(
        self, store: StoreDep, request: Request, name: FromQuery[BenchmarkName],
        ngram: FromQuery[Annotated[int, Meta(ge=1, le=64)]] = 13,
    ) -> BenchmarkInfo:  # fmt: skip
        """Register a benchmark: the body is JSON Lines; every string value of a record is benchmark text."""
        body = await request.body()
        return await anyio.to_thread.run_sync(lambda: register_benchmark(store, name, body, ngram=ngram))

    @get("/", sync_to_thread=True)
    def list(self, store: StoreDep) -> BenchmarkList:
        return BenchmarkList(items=list(list_benchmarks(store)))

    @get("/{name:str}", sync_to_thread=True)
    def read(self, store: StoreDep, name: FromPath[str]) -> BenchmarkInfo:
        return get_benchmark(store, name)

    @delete("/{name:str}", sync_to_thread=True)
    def remove(self, store: StoreDep, name: FromPath[str]) -> None:
        delete_benchmark(store, name)
