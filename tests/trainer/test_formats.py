from __future__ import annotations

from typing import Any

import pytest

from trainer.formats import (
    FormatError,
    completion_text,
    last_user_text,
    split_last_assistant,
    to_prompt_completion,
    training_rows,
    user_turn,
)

PROMPT = "Add the numbers.\n\n2 and 3"
EXPECTED = {
    "prompt": [{"role": "user", "content": PROMPT}],
    "completion": [{"role": "assistant", "content": "5"}],
}
RECORDS: dict[str, dict[str, Any]] = {
    "alpaca": {"instruction": "Add the numbers.", "input": "2 and 3", "output": "5"},
    "sharegpt": {"conversations": [{"from": "human", "value": PROMPT}, {"from": "gpt", "value": "5"}]},
    "messages": {"messages": [{"role": "user", "content": PROMPT}, {"role": "assistant", "content": "5"}]},
    "prompt_completion": EXPECTED,
}


def test_user_turn_adds_the_input_after_a_blank_line() -> None:
    assert user_turn("Add the numbers.", "2 and 3") == PROMPT
    assert user_turn("Name a colour.") == "Name a colour."
    assert user_turn("Name a colour.", "") == "Name a colour."


@pytest.mark.parametrize("fmt", sorted(RECORDS))
def test_every_format_becomes_the_same_prompt_completion(fmt: str) -> None:
    assert to_prompt_completion(RECORDS[fmt], fmt) == EXPECTED  # type: ignore[arg-type]


def test_alpaca_without_input_is_the_instruction_alone() -> None:
    pair = to_prompt_completion({"instruction": "Name a colour.", "input": "", "output": "Red."}, "alpaca")
    assert pair["prompt"] == [{"role": "user", "content": "Name a colour."}]


def test_multi_turn_conversations_train_on_the_last_answer() -> None:
    record = {
        "conversations": [
            {"from": "system", "value": "Be brief."},
            {"from": "human", "value": "Hi"},
            {"from": "gpt", "value": "Hello."},
            {"from": "human", "value": "2+2?"},
            {"from": "gpt", "value": "4"},
        ]
    }
    pair = to_prompt_completion(record, "sharegpt")
    assert [m["role"] for m in pair["prompt"]] == ["system", "user", "assistant", "user"]
    assert pair["completion"] == [{"role": "assistant", "content": "4"}]
    assert last_user_text(pair) == "2+2?"
    assert completion_text(pair) == "4"


@pytest.mark.parametrize(
    ("record", "fmt"),
    [
        ({"instruction": "x"}, "alpaca"),
        ({"conversations": [{"from": "robot", "value": "x"}]}, "sharegpt"),
        ({"messages": [{"role": "user", "content": "x"}]}, "messages"),
        ({"messages": [{"role": "assistant", "content": "x"}]}, "messages"),
        ({"prompt": "text"}, "prompt_completion"),
        ({"text": "x"}, "parquet"),
    ],
)
def test_malformed_records_raise_format_error(record: dict[str, Any], fmt: Any) -> None:
    with pytest.raises(FormatError):
        to_prompt_completion(record, fmt)


def test_split_last_assistant_keeps_earlier_turns_in_the_prompt() -> None:
    messages = [
        {"role": "user", "content": "a"},
        {"role": "assistant", "content": "b"},
        {"role": "user", "content": "c"},
        {"role": "assistant", "content": "d"},
    ]
    assert split_last_assistant(messages) == {"prompt": messages[:3], "completion": messages[3:]}


def test_training_rows_pass_trl_formats_through() -> None:
    rows, mask = training_rows([RECORDS["prompt_completion"]], "prompt_completion", template_marks_assistant=False)
    assert (rows, mask) == ([EXPECTED], "completion")
    rows, mask = training_rows([RECORDS["messages"]], "messages", template_marks_assistant=True)
    assert (rows, mask) == ([RECORDS["messages"]], "assistant")


@pytest.mark.parametrize("fmt", ["messages", "alpaca", "sharegpt"])
def test_training_rows_convert_in_memory_otherwise(fmt: Any) -> None:
    rows, mask = training_rows([RECORDS[fmt]], fmt, template_marks_assistant=False)
    assert (rows, mask) == ([EXPECTED], "completion")


SYSTEM_TURN = {"role": "system", "content": "Be brief."}


@pytest.mark.parametrize(
    ("fmt", "record"),
    [
        ("sharegpt", {"conversations": [{"from": "system", "value": "Be brief."},
                                        *RECORDS["sharegpt"]["conversations"]]}),
        ("messages", {"messages": [SYSTEM_TURN, *RECORDS["messages"]["messages"]]}),
        ("prompt_completion", {**EXPECTED, "prompt": [SYSTEM_TURN, *EXPECTED["prompt"]]}),
    ],
)  # fmt: skip
def test_a_snapshots_system_turn_stays_at_the_head_of_the_prompt(fmt: Any, record: dict[str, Any]) -> None:
    rows, mask = training_rows([record], fmt, template_marks_assistant=False)
    assert mask == "completion" and rows[0]["completion"] == EXPECTED["completion"]
    assert rows[0]["prompt"] == [SYSTEM_TURN, *EXPECTED["prompt"]]
