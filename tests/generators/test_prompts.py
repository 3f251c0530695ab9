from __future__ import annotations

from domain.records import Example
from generators.prompts import (
    TEMPLATES,
    parse_classification,
    parse_instance,
    parse_instructions,
    render_classify_prompt,
    render_instance_prompt,
    render_instructions_prompt,
)
from generators.templating import load_template


def test_every_template_is_a_versioned_package_file() -> None:
    for versioned in TEMPLATES.values():
        assert versioned.endswith(".v1")
        assert load_template(versioned).strip()


def test_instructions_prompt_numbers_the_examples_and_asks_for_the_next() -> None:
    prompt = render_instructions_prompt(["Name a color.", "Write a haiku\nabout  rain."])
    assert prompt == (
        "Here is a list of tasks. Each task is one instruction that a helpful assistant can carry out in text.\n"
        "Task 1: Name a color.\n"
        "Task 2: Write a haiku about rain.\n"
        "Task 3:"
    )


def test_classify_prompt_ends_with_the_task() -> None:
    assert render_classify_prompt("Is this spam?").endswith("Task: Is this spam?\nClassification:")


def test_instance_prompts_input_first_and_output_first() -> None:
    examples = [Example(instruction="Add the numbers.", input="2 3", output="5")]
    assert render_instance_prompt("Name a color.", examples, output_first=False).endswith(
        "Task: Add the numbers.\nInput: 2 3\nOutput: 5\n\nTask: Name a color.\nInput:"
    )
    labelled = [Example(instruction="Is it a fruit?", input="apple", output="Yes", is_classification=True)]
    assert render_instance_prompt("Is it spam?", labelled, output_first=True).endswith(
        "Task: Is it a fruit?\nClass label: Yes\nInput: apple\n\nTask: Is it spam?\nClass label:"
    )
    no_input = [Example(instruction="Tell a joke.", input="", output="Knock knock.")]
    assert "Input: None\nOutput: Knock knock." in render_instance_prompt("x", no_input, output_first=False)


def test_parse_instructions() -> None:
    assert parse_instructions(" Design a new board game.", truncated=False) == [("Design a new board game.", None)]
    assert parse_instructions(" First one.\nTask 6: Second one.\ntask 7) Third.", truncated=False) == [
        ("First one.", None),
        ("Second one.", None),
        ("Third.", None),
    ]
    assert parse_instructions(" One.\nThat was a list.\nTask 9: ignored", truncated=False) == [("One.", None)]
    assert parse_instructions(" Complete.\nTask 5: Cut off in the mid", truncated=True) == [
        ("Complete.", None),
        ("Cut off in the mid", "truncated"),
    ]
    assert parse_instructions(" Only one.\nTask 5:\nTask 6: after the end", truncated=False) == [("Only one.", None)]
    assert parse_instructions("   ", truncated=False) == [("", "unparseable")]
    assert parse_instructions("", truncated=False) == [("", "unparseable")]


def test_parse_classification() -> None:
    assert parse_classification(" Yes") is True
    assert parse_classification("no.") is False
    assert parse_classification(" Maybe") is None
    assert parse_classification("") is None


def test_parse_instance() -> None:
    assert parse_instance(" 2 and 3\nOutput: 5", output_first=False) == ("2 and 3", "5")
    assert parse_instance(" None\nOutput: Blue.\nTask: next", output_first=False) == ("", "Blue.")
    assert parse_instance(" Positive\nInput: I loved it.", output_first=True) == ("I loved it.", "Positive")
    assert parse_instance(" no marker here", output_first=False) is None
    assert parse_instance(" label only", output_first=True) is None
