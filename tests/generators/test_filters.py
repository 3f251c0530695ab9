from __future__ import annotations

import pytest

from domain.job_spec import InstructionRules
from generators.filters import asks_for_code, instance_rejection, instruction_rejection

RULES = InstructionRules()


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("Write a short poem about the sea.", None),
        ("Name colors.", "too_short"),
        (" ".join(["word"] * 151), "too_long"),
        ("Describe the image below in detail.", "banned_word"),
        ("Plot the data points on a chart.", "banned_word"),
        ("Go to the website and read the news.", "banned_word"),
        ("Summarise the FILES in this folder please.", "banned_word"),
        ("Explain how mapping works in databases.", None),  # "map" only as a whole word
        ("Write a program that sorts numbers.", "asks_for_program"),
        ("- Write a short poem about rain.", "starts_with_punctuation"),
        ("Écrivez un poème sur la mer.", "starts_with_non_ascii"),
    ],
)
def test_instruction_rules(text: str, reason: str | None) -> None:
    assert instruction_rejection(text, RULES) == reason


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("Write a Python function that reverses a list.", True),
        ("Create a function that finds the largest number in a list of integers.", True),
        ("Write a SQL query that lists the customers from Spain.", True),
        ("Create a C++ class for a bank account.", True),
        ("Design an algorithm to sort a deck of cards.", True),
        ("Explain how a function in mathematics maps inputs to outputs.", False),
        ("Write a story about a programmer who never sleeps.", False),
        ("Design a study plan for a week of exams.", False),
        ("Compose a limerick about a cat.", False),
    ],
)
def test_requests_for_code_are_recognised(text: str, wanted: bool) -> None:
    assert asks_for_code(text) is wanted


def test_rules_are_settings() -> None:
    strict = InstructionRules(min_words=2, max_words=5, banned_words=("poem",))
    assert instruction_rejection("Name colors.", strict) is None
    assert instruction_rejection("Write a poem now.", strict) == "banned_word"
    assert instruction_rejection("one two three four five six", strict) == "too_long"


@pytest.mark.parametrize(
    ("input_text", "output_text", "reason"),
    [
        ("2 3", "5", None),
        ("", "Blue", None),
        ("x", "  ", "empty_output"),
        ("same", " same ", "input_equals_output"),
        ("Output:", "24", "template_echo"),
        ("a list", "Output:\nOutput:\nOutput", "template_echo"),
        ("", "The output: a number", None),
        ("None when the task needs no input", "None", "template_echo"),  # the templates' note, as an input
        ("", "A walk (None when the task needs no input).", "template_echo"),
        ("The task needs an input file.", "Attach it.", None),
    ],
)
def test_instance_rules(input_text: str, output_text: str, reason: str | None) -> None:
    assert instance_rejection(input_text, output_text) == reason


def test_consistent_instances() -> None:
    from generators.filters import consistent_instances

    pairs = [("2 3", "5"), ("2 3", "5"), ("1 1", "2"), ("4 4", "8"), ("4 4 ", "9"), ("", "hello")]
    assert consistent_instances(pairs) == [("2 3", "5"), ("1 1", "2"), ("", "hello")]
    assert consistent_instances([("x", "a"), ("x", "b")]) == []
    assert consistent_instances([]) == []
