from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from domain.records import Instance, NewTask
from store import Store
from store.datasets import create_dataset


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    opened = Store.open(tmp_path / "db" / "test.duckdb")
    yield opened
    opened.close()


@pytest.fixture
def dataset_id(store: Store) -> str:
    return create_dataset(store, name="test").id


def task(instruction: str, output: str = "an answer", *, input: str = "", **fields) -> NewTask:
    return NewTask(instruction=instruction, instances=(Instance(input=input, output=output),), **fields)
