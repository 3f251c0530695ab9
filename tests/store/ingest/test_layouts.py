from __future__ import annotations

from typing import Any

import pytest

from domain.errors import InvalidInputError
from domain.imports import FieldMapping, ImportSpec
from domain.records import Conversation, Instance, NewTask, Turn
from store.ingest.formats import SeedLimits
from store.ingest.layouts import detect_layout, parse_row

# max_instruction_chars is tiny on purpose: an import's instruction is bounded by max_text_chars instead.
LIMITS = SeedLimits(max_instruction_chars=10, max_text_chars=300, max_instances=3, max_metadata_chars=200)
PROVENANCE = {"import": "imp_1", "line": 7}


def parse(obj: Any, layout: str, **spec: Any) -> NewTask:
    return parse_row(obj, layout, ImportSpec(source="src", **spec), LIMITS, dict(PROVENANCE))  # type: ignore[arg-type]


def reason(obj: Any, layout: str, **spec: Any) -> str:
    with pytest.raises(ValueError) as raised:
        parse(obj, layout, **spec)
    return str(raised.value)


def provenance(layout: str, **entries: Any) -> dict[str, Any]:
    return {**PROVENANCE, "layout": layout, **entries}


# --- alpaca, dolly, self-instruct ---------------------------------------------------------------------------------


def test_alpaca_record_keeps_extra_fields_as_metadata() -> None:
    row = {"instruction": " Give three tips for staying healthy. ", "input": "", "output": "1. Sleep.", "id": 5}
    assert parse(row, "alpaca") == NewTask(
        instruction="Give three tips for staying healthy.",  # longer than max_instruction_chars: imports allow it
        instances=(Instance(input="", output="1. Sleep."),),
        category="uncategorized",
        provenance=provenance("alpaca", metadata={"id": 5}),
    )


def test_alpaca_row_with_category_and_classification() -> None:
    row = {
        "instruction": "Is it spam?",
        "input": "WIN",
        "output": "yes",
        "category": " Spam ",
        "is_classification": True,
    }
    task = parse(row, "alpaca")
    assert (task.instances, task.category, task.is_classification) == (
        (Instance(input="WIN", output="yes"),),
        "spam",
        True,
    )


@pytest.mark.parametrize("output", [{"output": ""}, {"output": "  \n"}, {"output": None}, {}])
def test_alpaca_row_without_an_answer_has_no_instances(output: dict[str, Any]) -> None:
    task = parse({"instruction": "Name a colour.", "input": "", **output}, "alpaca", default_category="Art ")
    assert task == NewTask(instruction="Name a colour.", instances=(), category="art", provenance=provenance("alpaca"))


def test_dolly_record() -> None:
    row = {
        "instruction": "Which is a fish?",
        "context": "Tope or rope",
        "response": "Tope",
        "category": "classification",
    }
    assert parse(row, "dolly") == NewTask(
        instruction="Which is a fish?",
        instances=(Instance(input="Tope or rope", output="Tope"),),
        is_classification=True,
        category="classification",
        provenance=provenance("dolly"),
    )


def test_dolly_row_with_null_context_and_other_category() -> None:
    row = {"instruction": "Why is the sky blue?", "context": None, "response": "Rayleigh.", "category": "open_qa"}
    task = parse(row, "dolly")
    assert (task.instances, task.is_classification, task.category) == (
        (Instance(input="", output="Rayleigh."),),
        False,
        "open_qa",
    )


def test_self_instruct_record_of_the_paper_with_extra_fields() -> None:
    row = {
        "id": "user_oriented_task_0",
        "motivation_app": "Grammarly",
        "instruction": "The sentence you are given might be too wordy. Simplify it.",
        "instances": [{"input": "A very very long text", "output": "A long text"}],
        "is_classification": False,
    }
    assert parse(row, "self_instruct", default_category="writing") == NewTask(
        instruction="The sentence you are given might be too wordy. Simplify it.",
        instances=(Instance(input="A very very long text", output="A long text"),),
        category="writing",
        provenance=provenance(
            "self_instruct", seed_id="user_oriented_task_0", metadata={"motivation_app": "Grammarly"}
        ),
    )


def test_self_instruct_errors() -> None:
    assert reason({"instruction": "Do it."}, "self_instruct") == "Object missing required field `instances`"
    too_many = [{"output": str(n)} for n in range(4)]
    assert "instances must hold between 1 and 3 items" in reason(
        {"instruction": "Count.", "instances": too_many}, "self_instruct"
    )


# --- chats ----------------------------------------------------------------------------------------------------------

SHAREGPT_CHAT = {
    "id": "vicuna_17",
    "conversations": [
        {"from": "system", "value": "You are terse."},
        {"from": "human", "value": " Hi, what is 2+2? "},
        {"from": "gpt", "value": "4."},
        {"from": "human", "value": "And 3+3?"},
        {"from": "gpt", "value": "6."},
        {"from": "human", "value": "Thanks!"},  # never answered: left out
    ],
}
FIRST_EXCHANGE = (Instance(input="", output="4."),)


def test_multi_turn_sharegpt_is_kept_whole_with_its_system_prompt() -> None:
    assert parse(SHAREGPT_CHAT, "sharegpt") == NewTask(
        instruction="Hi, what is 2+2?",
        instances=FIRST_EXCHANGE,
        category="uncategorized",
        provenance=provenance("sharegpt", unanswered_turn_dropped=True, metadata={"id": "vicuna_17"}),
        conversation=Conversation(
            turns=(
                Turn(role="user", content="Hi, what is 2+2?"),
                Turn(role="assistant", content="4."),
                Turn(role="user", content="And 3+3?"),
                Turn(role="assistant", content="6."),
            ),
            system="You are terse.",
        ),
    )


def test_multi_turn_sharegpt_cut_to_its_first_exchange() -> None:
    assert parse(SHAREGPT_CHAT, "sharegpt", turns="first") == NewTask(
        instruction="Hi, what is 2+2?",
        instances=FIRST_EXCHANGE,
        provenance=provenance(
            "sharegpt", unanswered_turn_dropped=True, cut_turns=2, cut_system=True, metadata={"id": "vicuna_17"}
        ),
    )


def test_sharegpt_single_exchange_keeps_no_conversation_and_joins_consecutive_turns() -> None:
    row = {
        "conversations": [
            {"from": "human", "value": "Write a haiku."},
            {"from": "human", "value": "About rain."},
            {"from": "chatgpt", "value": "Rain taps the window", "weight": 1},
        ],
        "category": "Poetry",
    }
    assert parse(row, "sharegpt") == NewTask(
        instruction="Write a haiku.\n\nAbout rain.",
        instances=(Instance(input="", output="Rain taps the window"),),
        category="poetry",
        provenance=provenance("sharegpt", ignored_fields=["conversations[].weight"]),
    )


def test_unanswered_chat_is_an_instruction_with_no_instances() -> None:
    row = {"conversations": [{"from": "system", "value": "Be kind."}, {"from": "user", "value": "Tell a joke."}]}
    assert parse(row, "sharegpt") == NewTask(
        instruction="Tell a joke.", instances=(), provenance=provenance("sharegpt", system_prompt="Be kind.")
    )


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ([{"from": "function_call", "value": "{}"}], "conversations[0] is from 'function_call': known speakers"),
        ([{"from": "gpt", "value": "Hello!"}, {"from": "human", "value": "Hi"}], "turn 1 is an assistant turn"),
        ([{"from": "human", "value": "Hi"}, {"from": "system", "value": "Be nice."}], "turn 2 is a system prompt"),
        ([{"from": "human", "value": "Hi"}, {"from": "gpt", "value": " "}], "turn 2 (assistant) is empty"),
        ([{"from": "human", "value": 3}], "conversations[0] needs `from` and `value` strings"),
        ([], "`conversations` is empty"),
        ("hello", "`conversations` must be a list of objects"),
    ],
)
def test_sharegpt_errors(turns: Any, expected: str) -> None:
    assert expected in reason({"conversations": turns}, "sharegpt")


def test_messages_with_text_parts() -> None:
    row = {
        "messages": [
            {
                "role": "user",
                "content": [{"type": "text", "text": "Describe this."}, {"type": "text", "text": "Briefly."}],
            },
            {"role": "assistant", "content": "A cat.", "name": "bot"},
        ]
    }
    assert parse(row, "messages") == NewTask(
        instruction="Describe this.\n\nBriefly.",
        instances=(Instance(input="", output="A cat."),),
        provenance=provenance("messages", ignored_fields=["messages[].name"]),
    )


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"role": "tool", "content": "42"}, "messages[1] has role 'tool'"),
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "c1"}]}, "messages[1] carries `tool_calls`"),
        ({"role": "assistant", "content": [{"type": "image_url", "image_url": {}}]}, "part of type 'image_url'"),
        ({"role": "assistant", "content": 7}, "messages[1].content must be a string or a list of text parts"),
    ],
)
def test_messages_errors(message: dict[str, Any], expected: str) -> None:
    assert expected in reason({"messages": [{"role": "user", "content": "Hi"}, message]}, "messages")


def test_plain_prompt_completion() -> None:
    assert parse({"prompt": "The sky is", "completion": " blue."}, "prompt_completion") == NewTask(
        instruction="The sky is",
        instances=(Instance(input="", output=" blue."),),
        provenance=provenance("prompt_completion"),
    )


def test_conversational_prompt_completion() -> None:
    row = {
        "prompt": [{"role": "system", "content": "Answer in French."}, {"role": "user", "content": "Hello?"}],
        "completion": [{"role": "assistant", "content": "Bonjour."}],
    }
    assert parse(row, "prompt_completion") == NewTask(
        instruction="Hello?",
        instances=(Instance(input="", output="Bonjour."),),
        provenance=provenance("prompt_completion"),
        conversation=Conversation(
            turns=(Turn(role="user", content="Hello?"), Turn(role="assistant", content="Bonjour.")),
            system="Answer in French.",
        ),
    )


def test_prompt_completion_of_mixed_forms_is_an_error() -> None:
    row = {"prompt": "Hi", "completion": [{"role": "assistant", "content": "Hello"}]}
    assert "got str and list" in reason(row, "prompt_completion")


# --- mapping --------------------------------------------------------------------------------------------------------

QA_MAPPING = FieldMapping(instruction="q.text", output="answers.0.text", category="domain", input="q.context")


def test_mapping_with_dotted_paths_and_numbers() -> None:
    row = {"q": {"text": "What is 2+2?"}, "answers": [{"text": 4}], "domain": "Math", "src": "quiz"}
    assert parse(row, "mapping", mapping=QA_MAPPING) == NewTask(
        instruction="What is 2+2?",
        instances=(Instance(input="", output="4"),),
        category="math",
        provenance=provenance("mapping", metadata={"src": "quiz"}),
    )


def test_mapping_with_a_system_field() -> None:
    mapping = FieldMapping(instruction="question", output="answer", system="sys")
    row = {"question": "Capital of France?", "answer": "Paris", "sys": "Be brief."}
    whole = parse(row, "mapping", mapping=mapping)
    assert whole.conversation == Conversation(
        turns=(Turn(role="user", content="Capital of France?"), Turn(role="assistant", content="Paris")),
        system="Be brief.",
    )
    cut = parse(row, "mapping", mapping=mapping, turns="first")
    assert (cut.conversation, cut.provenance) == (None, provenance("mapping", cut_system=True))


def test_mapping_row_without_the_output_field_is_unanswered() -> None:
    task = parse({"q": {"text": "Define entropy."}}, "mapping", mapping=QA_MAPPING)
    assert (task.instruction, task.instances) == ("Define entropy.", ())


def test_mapping_errors() -> None:
    assert reason({"answers": []}, "mapping", mapping=QA_MAPPING) == "the instruction field `q.text` is missing"
    assert (
        reason({"q": {"text": ["a"]}}, "mapping", mapping=QA_MAPPING)
        == "`q.text` must be a string or a number, got list"
    )
    assert "must be a string" in reason({"q": {"text": True}}, "mapping", mapping=QA_MAPPING)


# --- checks every layout shares ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        (["not", "an", "object"], "expected a JSON object, got list"),
        ({"instruction": "?!", "output": "x"}, "instruction has no letters or digits"),
        ({"instruction": "Long one.", "output": "x" * 301}, "a text is longer than 300 characters"),
        ({"instruction": "Hi.", "output": "x", "category": "c" * 65}, "category is longer than 64 characters"),
        ({"instruction": "Hi.", "output": 5}, "Expected `str | null`, got `int` - at `$.output`"),
        ({"output": "x"}, "Object missing required field `instruction`"),
    ],
)
def test_errors_every_layout_shares(row: Any, expected: str) -> None:
    assert reason(row, "alpaca") == expected


def test_a_long_chat_turn_is_an_error() -> None:
    turns = [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": "Hey"}] * 2
    turns[3] = {"from": "gpt", "value": "y" * 301}
    assert reason({"conversations": turns}, "sharegpt") == "a text is longer than 300 characters"


def test_metadata_over_its_bound_is_named_not_kept() -> None:
    task = parse({"instruction": "Hi.", "output": "x", "notes": "n" * 300, "id": 1}, "alpaca")
    assert task.provenance == provenance("alpaca", ignored_fields=["id", "notes"])


def test_a_field_nested_too_deeply_is_an_error_not_a_crash() -> None:
    nested: list[Any] = []
    for _ in range(5000):
        nested = [nested]
    assert reason({"instruction": "Hi.", "output": "x", "deep": nested}, "alpaca") == "nested too deeply to decode"


# --- detection ------------------------------------------------------------------------------------------------------

SAMPLES = {
    "alpaca": [{"instruction": "a", "input": "", "output": "b"}, {"instruction": "c", "output": "d"}],
    "dolly": [{"instruction": "a", "context": "", "response": "b", "category": "open_qa"}],
    "self_instruct": [{"instruction": "a", "instances": [{"output": "b"}], "output": "legacy"}],
    "sharegpt": [{"id": "1", "conversations": []}],
    "messages": [{"messages": []}],
    "prompt_completion": [{"prompt": "a", "completion": "b"}],
}


@pytest.mark.parametrize("layout", sorted(SAMPLES))
def test_detects_each_layout(layout: str) -> None:
    assert detect_layout([*SAMPLES[layout], "not an object"]) == layout


def test_dolly_rows_with_an_input_field_are_still_dolly() -> None:
    assert detect_layout([{"instruction": "a", "input": "b", "response": "c"}]) == "dolly"


def detection_error(sample: list[Any]) -> InvalidInputError:
    with pytest.raises(InvalidInputError) as raised:
        detect_layout(sample)
    assert "layout=" in raised.value.detail and "mapping=" in raised.value.detail
    return raised.value


def test_ambiguous_sample() -> None:
    error = detection_error([{"messages": [], "conversations": []}])
    assert error.code == "ambiguous_layout"
    assert error.extra == {
        "fields": {"conversations": 1, "messages": 1},
        "fitting_layouts": ["sharegpt", "messages"],
        "suggested_mappings": [],
    }


def test_unknown_sample_suggests_mappings() -> None:
    rows = [
        {"question": "Why?", "answer": "Because.", "topic": "x", "type": "qa"},
        {"question": "How?", "answer": 42, "type": "qa", "tags": ["a"]},
    ]
    error = detection_error(rows)
    assert error.code == "unknown_layout"
    assert error.extra == {
        "fields": {"answer": 2, "question": 2, "tags": 1, "topic": 1, "type": 2},
        "fitting_layouts": [],
        "suggested_mappings": [{"instruction": "question", "output": "answer", "category": "type"}],
    }


def test_at_most_three_suggestions_and_rows_that_disagree() -> None:
    rows = [{"text": "a", "query": "b", "question": "c", "prompt": "d", "target": "e", "context": "f"}]
    assert detection_error(rows).extra["suggested_mappings"] == [
        {"instruction": "prompt", "input": "context", "output": "target"},
        {"instruction": "question", "input": "context", "output": "target"},
        {"instruction": "query", "input": "context", "output": "target"},
    ]
    mixed = detection_error([*SAMPLES["alpaca"], *SAMPLES["messages"]])
    assert (mixed.code, mixed.extra["fitting_layouts"]) == ("unknown_layout", [])
    assert detection_error([]).code == "unknown_layout"
