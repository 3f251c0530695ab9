from __future__ import annotations

import json

import pytest

from domain.errors import NotFoundError
from domain.records import Conversation, Instance, NewTask, Turn
from store import Store
from store.export import CHAT_FORMATS, EXPORT_FORMATS, open_export
from store.records import RecordFilter
from store.tasks import add_tasks
from tests.expectations import expected_line
from tests.store.conftest import task
from tests.store.conversations import chat_tasks, expected_alpaca_lines, expected_chat_lines, expected_text

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


@pytest.mark.parametrize("fmt", CHAT_FORMATS)
def test_chat_formats_render_every_turn_and_the_records_own_system_prompt(
    store: Store, dataset_id: str, fmt: str
) -> None:
    add_tasks(store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    stream = open_export(store, dataset_id, fmt, RecordFilter(), page_chars=20)
    text = b"".join(stream).decode()
    assert text == expected_text(expected_chat_lines(fmt))  # exact bytes; the two unanswered tasks have no line
    assert text.splitlines() == text.split("\n")[:-1] and stream.conversations_cut == 0


def test_alpaca_takes_the_first_exchange_and_counts_the_chats_it_cut(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    stream = open_export(store, dataset_id, "alpaca", RecordFilter())
    assert stream.conversations_cut == 1  # the three-exchange chat; the one-exchange chat loses nothing but its system
    assert b"".join(stream).decode() == expected_text(expected_alpaca_lines())
    assert open_export(store, dataset_id, "alpaca", RecordFilter(category="math")).conversations_cut == 0


def test_a_trailing_question_is_left_out_and_the_cut_count_is_a_point_in_time(store: Store, dataset_id: str) -> None:
    turns = tuple(Turn(role=r, content=c) for r, c in [("user", "Q1?"), ("assistant", "A1."), ("user", "Q2?")])
    asked = NewTask(instruction="Q1?", instances=(Instance(output="A1."),), conversation=Conversation(turns=turns))
    add_tasks(store, dataset_id, [asked], source="sharegpt-demo", stage="t")
    stream = open_export(store, dataset_id, "prompt_completion", RecordFilter())
    assert export_lines(store, dataset_id, "messages") == [
        {"messages": [{"role": "user", "content": "Q1?"}, {"role": "assistant", "content": "A1."}]}
    ]  # nothing to train on after the last answer; LLaMA-Factory drops records with an odd number of turns
    assert json.loads(b"".join(stream)) == {"prompt": [{"role": "user", "content": "Q1?"}],
                                            "completion": [{"role": "assistant", "content": "A1."}]}  # fmt: skip
    later = open_export(store, dataset_id, "alpaca", RecordFilter())
    add_tasks(store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    assert later.conversations_cut == 0 and b"".join(later).count(b"\n") == 1  # opened before the chats came


def test_pages_count_the_later_turns_of_a_chat(store: Store, dataset_id: str) -> None:
    long_turns = [("user", "Hi."), ("assistant", "Hello."), ("user", "x" * 5000), ("assistant", "y" * 5000)]
    turns = tuple(Turn(role=r, content=c) for r, c in long_turns)
    chat = NewTask(instruction="Hi.", instances=(Instance(output="Hello."),), conversation=Conversation(turns=turns))
    add_tasks(store, dataset_id, [task("Short one."), chat, task("Short two.")], source="seed", stage="t")
    # Counted, the chat's 10,000 characters close a page after the first task; uncounted, all three fit in one.
    assert len(list(open_export(store, dataset_id, "messages", RecordFilter(), page_chars=5000))) == 2
