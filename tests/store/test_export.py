from __future__ import annotations

import json

import pytest

from domain.errors import NotFoundError
from store import Store
from store.export import EXPORT_FORMATS, open_export
from store.records import RecordFilter
from store.tasks import add_tasks
from tests.expectations import expected_line
from tests.store.conftest import task

ROWS = [
    ("Name a color.", "", "Blue"),
    ("Translate to French.", "cat", "chat"),
    ("Quote this.", 'He said "hi"\n\tand left\\', "Ünïcödé ✓ \u2028 done"),
]


@pytest.fixture
def filled(store: Store, dataset_id: str) -> str:
    add_tasks(store, dataset_id, [task(i, o, input=x, category="c") for i, x, o in ROWS], source="seed", stage="test")
    return dataset_id


def export_lines(store: Store, dataset_id: str, fmt: str, **kwargs) -> list[dict]:
    text = b"".join(open_export(store, dataset_id, fmt, RecordFilter(**kwargs), page_chars=20)).decode()
    assert text.endswith("\n")
    assert text.splitlines() == text.split("\n")[:-1]  # no raw U+2028/U+2029 that would split a record
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_each_format_line_by_line(store: Store, filled: str, fmt: str) -> None:
    assert export_lines(store, filled, fmt) == [expected_line(fmt, *row) for row in ROWS]


def test_one_line_per_instance_in_order(store: Store, dataset_id: str) -> None:
    multi = task("Add.", "3", input="1 2")
    multi = type(multi)(
        instruction="Add.", instances=multi.instances + (type(multi.instances[0])(input="2 2", output="4"),)
    )
    add_tasks(store, dataset_id, [task("First."), multi, task("Last.")], source="seed", stage="test")
    lines = export_lines(store, dataset_id, "alpaca")
    assert [(line["instruction"], line["input"]) for line in lines] == [
        ("First.", ""),
        ("Add.", "1 2"),
        ("Add.", "2 2"),
        ("Last.", ""),
    ]


def test_filters_apply(store: Store, dataset_id: str) -> None:
    add_tasks(
        store, dataset_id, [task("Seed one."), task("Is it?", "yes", is_classification=True)], source="seed", stage="t"
    )
    add_tasks(store, dataset_id, [task("Generated one.")], source="generated", stage="t")
    assert [line["instruction"] for line in export_lines(store, dataset_id, "alpaca", source="generated")] == [
        "Generated one."
    ]
    assert [line["instruction"] for line in export_lines(store, dataset_id, "alpaca", is_classification=True)] == [
        "Is it?"
    ]


def test_export_is_a_point_in_time(store: Store, filled: str) -> None:
    chunks = open_export(store, filled, "alpaca", RecordFilter(), page_chars=1)
    first = next(chunks)
    add_tasks(store, filled, [task("Arrived later.")], source="generated", stage="t")
    rest = b"".join(chunks)
    assert (first + rest).decode().count("\n") == 3


def test_empty_dataset_exports_nothing(store: Store, dataset_id: str) -> None:
    assert list(open_export(store, dataset_id, "messages", RecordFilter())) == []


def test_unknown_dataset_fails_before_streaming(store: Store) -> None:
    with pytest.raises(NotFoundError):
        open_export(store, "ds_nope", "alpaca", RecordFilter())


def test_pages_are_cut_by_text_size(store: Store, filled: str) -> None:
    one_per_task = list(open_export(store, filled, "alpaca", RecordFilter(), page_chars=1))
    assert len(one_per_task) == len(ROWS)
    assert len(list(open_export(store, filled, "alpaca", RecordFilter(), page_chars=10**6))) == 1


def test_line_sql_renders_literals_and_expressions() -> None:
    from store.export import line_sql

    assert line_sql('{"a":$OUTPUT}') == "'{\"a\":' || to_json(i.output) || '}' || chr(10)"
    assert line_sql("{'x':$INPUT}") == "'{''x'':' || to_json(i.input) || '}' || chr(10)"
