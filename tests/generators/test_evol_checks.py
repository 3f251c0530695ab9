"""The elimination rules of Evol-Instruct on literal cases, and the prompts and parsers of the operators."""

from __future__ import annotations

import json
from importlib.resources import files

import msgspec
import pytest

from domain.job_spec import Elimination, EvolConfig
from domain.records import Example
from generators.evol_checks import (
    copied_example,
    copied_prompt_words,
    degenerate_answer,
    no_gain,
    prompt_text,
)
from generators.evol_prompts import (
    IN_DEPTH,
    OPERATORS,
    join_input,
    parse_answer,
    parse_evolved,
    render_answer_prompt,
    render_evol_prompt,
    render_input_prompt,
    template_examples,
)

RULES = Elimination()


def degenerate(instruction: str, output: str, *, input_text: str = "", classification: bool = False):
    return degenerate_answer(instruction, input_text, output, is_classification=classification, rules=RULES)


# --- rule 1: no information gain ---------------------------------------------------------------------


def test_no_gain_equal_after_normalisation() -> None:
    assert no_gain("Write a poem about the sea.", "write a POEM about the sea!", in_depth=False, rules=RULES) == {
        "check": "equal"
    }


def test_no_gain_rouge_l_above_threshold() -> None:
    # 20 words kept and 2 added: F = 40 / 42 = 0.9524 > 0.9
    parent = "Write a short story about a lighthouse keeper who finds a message in a bottle on a stormy winter night."
    evolved = parent[:-1] + " near Halifax."
    assert no_gain(parent, evolved, in_depth=True, rules=RULES) == {"check": "rouge_l", "rouge_l": 0.9524}


def test_no_gain_in_depth_must_add_words_but_breadth_need_not() -> None:
    parent, evolved = "Write a poem about an animal.", "Compose verses about a fox."
    assert no_gain(parent, evolved, in_depth=True, rules=RULES) == {"check": "too_little_added", "added_words": -1}
    assert no_gain(parent, evolved, in_depth=False, rules=RULES) is None
    longer = "Write a poem about a red fox crossing a frozen river at dawn."
    assert no_gain(parent, longer, in_depth=True, rules=RULES) is None


def test_no_gain_counts_the_input_with_the_instruction() -> None:
    before = prompt_text("Add the two numbers.", "2 and 3")
    after = prompt_text("Add the three fractions below and give the sum in lowest terms.", "1/2, 3/4 and 5/6")
    assert before == "Add the two numbers.\n2 and 3"
    assert prompt_text("Explain gravity.", "  ") == "Explain gravity."
    assert no_gain(before, after, in_depth=True, rules=RULES) is None


# --- rule 4: copied prompt words -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        ("#Rewritten Prompt#: Write a poem.", "#Rewritten Prompt#"),
        ("Rewrite #The Given Prompt# to be harder.", "#The Given Prompt#"),
        ("Answer the given prompt in French.", "given prompt"),
        ("Make the rewritten prompt longer.", "rewritten prompt"),
        ("#Created Prompt# Describe a fox.", "#Created Prompt#"),
        ("Describe a fox. Rewritten task: Describe a wolf.", "Rewritten task:"),
        ("Original task: Describe a fox.", "Original task:"),
        ("Determine the largest of the two numbers given by the original task.", "the original task"),
    ],
)
def test_copied_prompt_words(text: str, phrase: str) -> None:
    assert copied_prompt_words(text) == phrase


def test_clean_text_and_ordinary_words_are_not_copies() -> None:
    assert copied_prompt_words("Give a prompt reply to the email below.", "Rewrite the task list.") is None
    assert copied_prompt_words("Explain gravity.", "Rewritten input: 3, 4") == "Rewritten input:"


def test_a_copy_of_a_worked_example_is_a_copied_prompt() -> None:
    shown = template_examples("concretize")
    copy = (
        "Give advice to a nurse who is starting her first night shift in the emergency department of a city hospital."
    )
    assert copied_example(copy, "Draft a letter to a landlord.", shown, rules=RULES) == {
        "example": shown[3],
        "rouge_l": 0.9756,
    }
    assert (
        copied_example("Write a poem about a fox at dawn.", "Write a poem about an animal.", shown, rules=RULES) is None
    )
    parent, reasoning = "How many heartbeats make a rollercoaster ride?", template_examples("increase_reasoning")
    lifted = parent + " Explain step by step why it was chosen instead of the city."
    assert copied_example(lifted, parent, reasoning, rules=RULES) == {
        "example": reasoning[5],
        "words": "by step why it was chosen",
    }
    # the parent resembles an example as much: the likeness is the parent's, not a copy of the prompt
    parent = "Give advice to someone starting a new job in a bank."
    assert copied_example(shown[2] + " In a bank.", parent, shown, rules=RULES) is None


# --- rules 2 and 3, and degenerate answers ---------------------------------------------------------------


def test_degenerate_answers_each_with_its_check() -> None:
    assert degenerate("Describe a fox.", "  ") == {"check": "empty_output"}
    assert degenerate("Repeat the input.", "cat", input_text="cat") == {"check": "input_equals_output"}
    assert degenerate("Describe a fox.", "A fox.\nTask: Describe a wolf.") == {"check": "template_echo"}
    assert degenerate("Describe a fox.", "It is what it is.") == {"check": "stop_words_only"}
    assert degenerate("Describe a fox.", "...!") == {"check": "stop_words_only"}
    assert degenerate("Describe a fox.", "Sorry, I cannot help with that.") == {"check": "refusal", "marker": "Sorry"}
    assert degenerate("Describe a fox.", "As an AI, I have no views on foxes.") == {
        "check": "refusal",
        "marker": "As an AI",
    }
    long_task = (
        "Write a detailed plan for a three-day hiking trip in the Swiss Alps, with the daily distances, huts and food."
    )
    assert degenerate(long_task, "Go hiking.") == {"check": "too_short_for_task", "answer_words": 2}


def test_what_is_not_degenerate() -> None:
    assert degenerate("Is the review positive?", "yes", classification=True) is None  # yes/no are answers
    assert degenerate("Write an apology for being late, starting with sorry.", "Sorry I was late, Sam.") is None
    long_refusal = "Sorry to hear that. Here is a plan: " + ", ".join(f"task {n}" for n in range(40))
    assert degenerate("Help me plan my week.", long_refusal) is None  # 88 words: not a short refusal
    long_task = (
        "Write a detailed plan for a three-day hiking trip in the Swiss Alps, with the daily distances, huts and food."
    )
    assert degenerate(long_task, "Day one: Zermatt.") is None


def test_every_packaged_seed_answer_passes_the_degenerate_checks() -> None:
    lines = files("generators").joinpath("seeds", "default_seeds.jsonl").read_text().splitlines()
    seeds = [json.loads(line) for line in lines if line.strip()]
    flagged = [
        s["id"]
        for s in seeds
        if degenerate(
            s["instruction"],
            s["instances"][0]["output"],
            input_text=s["instances"][0]["input"],
            classification=s["is_classification"],
        )  # fmt: skip
    ]
    assert flagged == []


# --- the operators' prompts and parsers ------------------------------------------------------------------

HEADERS = {
    "add_constraints": "Each original task below is rewritten into a harder task by adding one more constraint or",
    "deepen": "Each original task below is rewritten into a harder task that asks about the same issue in more",
    "concretize": "Each original task below is rewritten into a harder task by replacing its general concepts",
    "increase_reasoning": "Each original task below can be solved with one simple thought. It is rewritten into a",
    "complicate_input": "Each original task below is rewritten into a harder task by making its input more complex",
    "breadth": "Each new task below draws its inspiration from the original task above it. The new task belongs",
}


@pytest.mark.parametrize("operator", OPERATORS)
def test_each_operator_prompt_is_three_worked_pairs_then_the_parent(operator: str) -> None:
    prompt = render_evol_prompt(operator, "Sort the   numbers\n below.", "3, 1,\n2")
    assert prompt.startswith(HEADERS[operator])
    if operator == "breadth":  # a new task: the parent's input is not shown
        assert prompt.endswith("\n\nOriginal task: Sort the numbers below.\nNew task:")
        assert prompt.count("\nNew task: ") == 3
    else:
        assert prompt.endswith("\n\nOriginal task: Sort the numbers below.\nInput: 3, 1, 2\nRewritten task:")
        assert prompt.count("\nRewritten task: ") == 3
    assert prompt.count("Original task: ") == 4
    without_input = render_evol_prompt(operator, "Explain gravity.", "")
    assert without_input.endswith(
        "\n\nOriginal task: Explain gravity.\n" + ("New" if operator == "breadth" else "Rewritten") + " task:"
    )


def test_parsers_per_operator() -> None:
    assert IN_DEPTH == set(OPERATORS) - {"breadth"}
    assert parse_evolved("deepen", " Explain gravity on Mars.\n", truncated=False) == (
        "Explain gravity on Mars.",
        None,
        None,
    )
    assert parse_evolved("deepen", "  ", truncated=False) == ("", None, "evol_unparseable")
    assert parse_evolved("deepen", " Explain gravity and", truncated=True) == (
        "Explain gravity and",
        None,
        "evol_truncated",
    )
    two = " Add the fractions below.\nRewritten input: 1/2 and 3/4"
    assert parse_evolved("complicate_input", two, truncated=False) == ("Add the fractions below.", "1/2 and 3/4", None)
    none = " Explain gravity on Mars.\nRewritten input: None"
    assert parse_evolved("complicate_input", none, truncated=False) == ("Explain gravity on Mars.", "", None)
    assert parse_evolved("complicate_input", " Add them.", truncated=False) == ("Add them.", None, "evol_unparseable")
    joined = join_input(" Add the fractions below.", " 1/2 and 3/4")
    assert parse_evolved("complicate_input", joined, truncated=False) == (
        "Add the fractions below.",
        "1/2 and 3/4",
        None,
    )
    first = render_evol_prompt("complicate_input", "Add the two numbers.", "2 and 3")
    follow_up = render_input_prompt(first, " Add the fractions\n below.")
    assert follow_up == first + " Add the fractions below.\nRewritten input:"


def test_the_worked_examples_of_each_template_are_known() -> None:
    assert template_examples("breadth") == (
        "Write a haiku about autumn leaves.",
        "Write a tanka about the first frost on a vegetable garden.",
        "Give three tips for saving money on groceries.",
        "Give three tips for cutting the cost of heating a small flat in winter.",
        "Explain how a bicycle gear works.",
        "Explain how a sailboat can move forward against the wind.",
    )
    assert all(len(template_examples(op)) == 6 for op in OPERATORS)


def test_answer_prompts_fill_a_known_input_and_leave_breadth_inputs_to_the_model() -> None:
    examples = [Example(instruction="Add 1 and 2.", input="", output="3")]
    known = render_answer_prompt("Add the numbers.", "2 and 3", examples, is_classification=False)
    assert known.endswith("Output: 3\n\nTask: Add the numbers.\nInput: 2 and 3\nOutput:")
    empty = render_answer_prompt("Explain gravity.", "", examples, is_classification=False)
    assert empty.endswith("Task: Explain gravity.\nInput: None\nOutput:")
    # The model writes a breadth task's input: self-instruct's instance prompts exactly (final newline included).
    assert render_answer_prompt("Name a fox.", None, examples, is_classification=False).endswith(
        "Task: Name a fox.\nInput:"
    )
    assert render_answer_prompt("Is it spam?", None, examples, is_classification=True).endswith(
        "Task: Is it spam?\nClass label:"
    )
    assert parse_answer(" 5\nTask: more", "2 and 3", is_classification=False) == ("2 and 3", "5")
    assert parse_answer(" None\nOutput: Red fox.", None, is_classification=False) == ("", "Red fox.")
    assert parse_answer(" no output marker", None, is_classification=False) is None


def test_config_bounds_and_operator_weights() -> None:
    assert msgspec.convert({"operators": {"breadth": 2}}, EvolConfig).operators == {"breadth": 2.0}
    assert EvolConfig().operators == dict.fromkeys(OPERATORS, 1.0)
    bad = [
        {"operators": {"breadth": 0}},
        {"operators": {"mutate": 1}},
        {"operators": {"deepen": -1}},
        {"max_depth": 0},
        {"parents_per_round": 0},
        {"elimination": {"no_gain_rouge_l": 1.5}},
        {"elimination": {"surprise": 1}},
        {"surprise": 1},
    ]
    for fields in bad:
        with pytest.raises(msgspec.ValidationError):
            msgspec.convert(fields, EvolConfig)
