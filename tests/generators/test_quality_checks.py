"""Model-free quality checks: literal cases per rule, the issue's examples, and the seed tasks as negatives."""

from __future__ import annotations

import json
import random
from pathlib import Path

import anyio
import msgspec
import pytest

from domain.job_spec import InstructionRules, QualityRules, Sampling, SelfInstructConfig
from generators.engine import Completion
from generators.quality_checks import (
    QUALITY_REASONS,
    degenerate_list,
    instance_quality_rejection,
    instruction_quality_rejection,
    list_items,
    overlap,
    placeholder_output,
    repetitive_output,
)
from generators.self_instruct import run_round
from generators.task_requests import request_kind
from tests.generators.test_self_instruct import ScriptedEngine, make_pool, make_screen

RULES = QualityRules()
DEFAULT_SEEDS = Path(__file__).resolve().parents[2] / "generators" / "seeds" / "default_seeds.jsonl"
CODE_SEEDS = DEFAULT_SEEDS.with_name("code_seeds.jsonl")


# --- the examples a user found accepted (issue 13) ----------------------------------------------------


def test_the_reported_numbering_output_is_a_degenerate_list() -> None:
    instruction = "Add a sentence explaining the purpose of a musical instrument."
    verdict = instance_quality_rejection(instruction, "1. 'Piano' 2. 2. 2. 3. 4", "2. 2. 2. 3", RULES)
    assert verdict == ("degenerate_list", {"items": 3, "empty": 2, "numbering_only": 0, "repeated": 0})


def test_the_reported_podcast_loop_is_repetitive() -> None:
    verdict = instance_quality_rejection(
        "A sentence can be made into two sentences with the same number of words.",
        "",
        "A podcast, a podcast, a podcast, she actually started a podcast",
        RULES,
    )
    assert verdict == ("repetitive_output", {"unit": "a podcast", "repeats": 3})


@pytest.mark.parametrize(
    "text",
    [
        "I am going to send you a package today with a special price.",
        "A sentence can be made into two sentences with the same number of words.",
    ],
)
def test_the_reported_statements_are_not_tasks(text: str) -> None:
    assert instruction_quality_rejection(text, RULES) == ("not_a_task", {"first_words": " ".join(text.split()[:6])})


# --- not_a_task ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Tell me about the history of the bicycle.", "imperative"),
        ("Given a list of numbers, find the largest one.", "imperative"),
        ("Sum up the paragraph below in a single sentence.", "imperative"),
        ("From the recipe text, extract the ingredients.", "imperative"),
        ("Brainstorm questions a candidate could ask the interviewer.", "imperative"),
        ("Recursively flatten a nested list of any depth.", "imperative"),
        ("Based on the pair (name, age), rank the people oldest first.", "imperative"),
        ("What is the capital of Peru", "question"),  # the small model drops question marks
        ("A bat and a ball cost $1.10 in total. The bat costs $1 more. How much is the ball?", "question"),
        ("In your opinion, how would you explain colours to a person born blind", "question"),
        ("I would like you to suggest three names for a bakery.", "imperative"),
        ("My sister is sad today, please cheer her up with a short note.", "request_phrase"),
        ("The weather was lovely at the beach yesterday.", None),
        ("A list of the planets in the solar system.", None),
        ("There are many kinds of apples in the market.", None),
        ("You run a small bakery. It opens at eight. Customers ask about gluten. Write the sign.", "imperative"),
    ],
)
def test_request_kinds(text: str, kind: str | None) -> None:
    assert request_kind(text) == kind


def _seed_instructions(path: Path) -> list[str]:
    return [json.loads(line)["instruction"] for line in path.read_text().splitlines() if line.strip()]


def test_no_self_instruct_seed_is_rejected_as_not_a_task(seed_file: Path) -> None:
    instructions = _seed_instructions(seed_file)
    assert len(instructions) == 175
    assert [t for t in instructions if instruction_quality_rejection(t, RULES)] == []


@pytest.mark.parametrize(("path", "count"), [(DEFAULT_SEEDS, 120), (CODE_SEEDS, 40)])
def test_no_packaged_seed_is_rejected_as_not_a_task(path: Path, count: int) -> None:
    instructions = _seed_instructions(path)
    assert len(instructions) == count
    assert [t for t in instructions if instruction_quality_rejection(t, RULES)] == []


def test_seed_instances_trip_no_rule_but_one_code_fix(seed_file: Path) -> None:
    fired = []
    for path in (seed_file, DEFAULT_SEEDS):
        for line in path.read_text().splitlines():
            task = json.loads(line)
            for instance in task["instances"]:
                verdict = instance_quality_rejection(task["instruction"], instance["input"], instance["output"], RULES)
                if verdict is not None:
                    fired.append((verdict[0], task["instruction"][:40]))
    assert fired == [("copies_input", "Find and fix the bugs in this Python fun")]


# --- refusal ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "phrase"),
    [
        ("As an AI language model, I do not have personal opinions.", "As an AI language model"),
        ("I'm sorry, but I cannot help with that request.", "I'm sorry, but I cannot help"),
        ("I am unable to provide a summary without the article.", "I am unable to provide"),
        ("Sorry, I don't have access to the internet.", "Sorry, I don't have access to"),
        ("I do not have personal opinions about rain.", "I do not have personal opinions"),
        ("Here is a poem. Well, I'm just an AI, but I tried.", "I'm just an AI"),
    ],
)
def test_refusals(output: str, phrase: str) -> None:
    assert instance_quality_rejection("Write a poem about rain.", "", output, RULES) == ("refusal", {"phrase": phrase})


@pytest.mark.parametrize(
    ("instruction", "output"),
    [
        ("Write an apology to a customer.", "I'm sorry for the delay in shipping your order; it leaves today."),
        ("Write a thank-you note to a teacher.", "I cannot thank you enough for this year of patient teaching."),
        ("Write a text to a friend about the trip.", "I can't wait to see you in Lisbon next week!"),
        ("Write a diary entry.", "I can't help but smile when I think of today."),
        ("Write an apology to a friend.", "I'm sorry, I don't know how I forgot your birthday."),
        ("Write the opening of a mystery.", "I cannot see a thing in this fog, Holmes muttered."),
    ],
)
def test_apologies_and_idioms_are_not_refusals(instruction: str, output: str) -> None:
    assert instance_quality_rejection(instruction, "", output, RULES) is None


# --- placeholder_output -------------------------------------------------------------------------------


# The first three are what the 135M model answered in the record-only job of 2026-12-02.
@pytest.mark.parametrize(
    "output", ["None", "None.", " none ", "N/A", "n/a", "null", "...", "-", "\u2026", "Unknown.", "(none)"]
)
def test_placeholders_are_no_answer(output: str) -> None:
    verdict = instance_quality_rejection("Which is the largest city in the world?", "", output, RULES)
    assert verdict == ("placeholder_output", {"output": output.strip()})


@pytest.mark.parametrize(
    "output", ["No", "yes", "0", "None of them.", "Nothing is missing: the list is complete.", "Tokyo"]
)
def test_short_answers_are_not_placeholders(output: str) -> None:
    assert placeholder_output(output) is None


# --- copies_instruction, copies_input -----------------------------------------------------------------


def test_an_output_that_restates_the_instruction_is_a_copy() -> None:
    instruction = "Add a sentence explaining the purpose of a musical instrument."
    output = "Add a sentence explaining the purpose of a musical instrument, please."
    assert instance_quality_rejection(instruction, "", output, RULES) == (
        "copies_instruction",
        {"rouge_l": 0.9524, "precision": 0.9091, "recall": 1.0},
    )


def test_an_output_that_hands_back_the_input_is_a_copy() -> None:
    verdict = instance_quality_rejection(
        "Summarize the paragraph in one sentence.",
        "The city council met on Monday. It voted to build a new library near the river park.",
        "The city council met on Monday. It voted to build a new library near the river.",
        RULES,
    )
    assert verdict == ("copies_input", {"rouge_l": 0.9697, "precision": 1.0, "recall": 0.9412})


@pytest.mark.parametrize(
    ("instruction", "input_text", "output"),
    [
        # a classification label that is a word of the input
        ("Which of the two words names a fruit?", "apple, hammer", "apple"),
        # an extraction: a part of the input, its recall is low
        (
            "Extract the sentence that mentions a date.",
            "We met at the station. The train left on 3 May 2021 at noon. Nobody was late.",
            "The train left on 3 May 2021 at noon.",
        ),
        # a true/false answer made of the instruction's words
        ("Is the statement true or false?", "Water boils at 100 C at sea level.", "True"),
        # an edit task: close to its input, but changed
        (
            "Change the paragraph from the present tense to the past tense.",
            "Nadia wakes up at six, makes a pot of coffee, and reads the news on her balcony.",
            "Nadia woke up at six, made a pot of coffee, and read the news on her balcony.",
        ),
        # a long answer that opens by restating the question
        (
            "What is the purpose of a musical instrument?",
            "",
            "The purpose of a musical instrument is to produce sound that people shape into music.",
        ),
    ],
)
def test_short_answers_and_extractions_are_not_copies(instruction: str, input_text: str, output: str) -> None:
    assert instance_quality_rejection(instruction, input_text, output, RULES) is None


def test_overlap_is_rouge_l_on_words() -> None:
    assert overlap("the cat sat", "the cat sat on the mat") == (1.0, 0.5, 0.6667)
    assert overlap("", "anything") == (0.0, 0.0, 0.0)


# --- degenerate_list ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "detail"),
    [
        ("1.\n2.\n3.", {"items": 3, "empty": 3, "numbering_only": 0, "repeated": 0}),
        ("1. 2. 3.", {"items": 2, "empty": 1, "numbering_only": 1, "repeated": 0}),
        ("- Apple\n- apple.\n- APPLE", {"items": 3, "empty": 0, "numbering_only": 0, "repeated": 2}),
        (
            "1. Paris\n2. Paris\n3. Rome\n4. Paris\n5. Paris",
            {"items": 5, "empty": 0, "numbering_only": 0, "repeated": 3},
        ),
    ],
)
def test_degenerate_lists(output: str, detail: dict) -> None:
    assert degenerate_list(output, RULES) == detail


@pytest.mark.parametrize(
    "output",
    [
        "1. Preheat the oven.\n2. Mix the flour and eggs.\n3. Bake for 20 minutes.",
        "1. apple 2. banana 3. cherry",
        "1. 2\n2. 3\n3. 5\n4. 7\n5. 11",  # the first five primes: numbers are the content
        "Roger has 5 balls. 2 cans of 3 balls is 6 balls. 5 + 6 = 11. The answer is 11.",
        "- Pack sunscreen\n- Pack a hat\n- Pack water",
        "1. positive\n2. negative\n3. positive\n4. positive",  # labels of four classified inputs: half repeat
        "1. Visit Paris\n2. Visit Rome\n3. Visit Paris",  # one repeat in three
    ],
)
def test_legitimate_lists_and_numbers_are_kept(output: str) -> None:
    assert degenerate_list(output, RULES) is None


def test_a_number_that_ends_a_sentence_is_no_list_marker() -> None:
    assert list_items("The total is 11. That is 11.") == [("11", "That is 11.")]


# --- repetitive_output --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "detail"),
    [
        ("I love you. I love you. I love you.", {"unit": "i love you", "repeats": 3}),
        ("It was very very very very very very good.", {"unit": "very", "repeats": 6}),
        ("The cat is on the mat. " * 5, {"unit": "the cat is on the mat", "repeats": 5}),
        # a loop with variations: no run of three, but few distinct trigrams
        ("I like red apples. I like green apples. I like red apples. I like yellow apples. " * 2,
         {"distinct": 0.3333, "n": 3, "words": 32}),
    ],
)  # fmt: skip
def test_loops_are_repetitive(output: str, detail: dict) -> None:
    assert repetitive_output(output, RULES) == detail


@pytest.mark.parametrize(
    "output",
    [
        # a poem with a refrain
        "Row the boat across the bay,\nthe tide will turn, the tide will stay.\n"
        "Gulls are calling, skies are grey,\nthe tide will turn, the tide will stay.\n"
        "Lanterns flicker, nets give way,\nthe tide will turn, the tide will stay.",
        "Photosynthesis turns light into chemical energy. Plants use this energy to grow, and release oxygen.",
        "Yes.",
        "No, no, no: the meeting is on Tuesday.",  # a run of three, but of three words only
        "Mix 1 cup flour, 1 cup sugar, 1 cup milk and 2 eggs.",  # a phrase repeated with new words between
        "[[0, 0, 0], [0, 0, 0], [0, 0, 0]]",  # numbers are data, not a loop
    ],
)
def test_refrains_and_ordinary_answers_are_not_repetitive(output: str) -> None:
    assert repetitive_output(output, RULES) is None


# --- the rules, the order, the switches ---------------------------------------------------------------


def test_a_rule_switched_off_does_not_fire() -> None:
    off = QualityRules(degenerate_list=False, repetitive_output=False, not_a_task=False)
    assert instance_quality_rejection("List three fruits.", "", "1.\n2.\n3.", off) is None
    assert instruction_quality_rejection("The sky is blue today.", off) is None


def test_each_rejection_has_one_reason_in_a_fixed_order() -> None:
    # a refusal that also loops is named a refusal: refusal comes first
    output = "As an AI, I cannot. As an AI, I cannot. As an AI, I cannot."
    assert instance_quality_rejection("Write a poem about rain.", "", output, RULES)[0] == "refusal"
    assert QUALITY_REASONS == (
        "not_a_task", "refusal", "placeholder_output", "copies_instruction", "copies_input", "degenerate_list",
        "repetitive_output",
    )  # fmt: skip


def test_rules_decode_strictly_with_bounds() -> None:
    decoded = msgspec.json.decode(b'{"copy_input_threshold": 0.9, "refusal": false}', type=QualityRules)
    assert decoded.copy_input_threshold == 0.9 and decoded.refusal is False
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.json.decode(b'{"nonsense": 1}', type=QualityRules)
    with pytest.raises(msgspec.ValidationError, match="<= 1.0"):
        msgspec.json.decode(b'{"repeat_distinct_min": 1.5}', type=QualityRules)
    with pytest.raises(msgspec.ValidationError, match="repeat_min_words must exceed repeat_ngram"):
        msgspec.json.decode(b'{"repeat_ngram": 5, "repeat_min_words": 5}', type=QualityRules)
    with pytest.raises(msgspec.ValidationError, match="repeat_min_covered must be at least repeat_min_count"):
        msgspec.json.decode(b'{"repeat_min_count": 4, "repeat_min_covered": 3}', type=QualityRules)


# --- inside a self-instruct round ---------------------------------------------------------------------


class RefusingEngine(ScriptedEngine):
    """Answers every ordinary instance prompt as a refusing assistant would, unless the task is about rain."""

    def _answer(self, prompt: str) -> Completion:
        if prompt.rstrip().endswith("Input:") and "rain" not in prompt.rsplit("Task:", 1)[1]:
            return Completion(
                text=" None\nOutput: As an AI, I cannot write that.", finish_reason="stop", completion_tokens=9
            )
        return super()._answer(prompt)


def _round(engine: ScriptedEngine, quality: QualityRules):
    pool, screen = make_pool(), make_screen()
    config, rules = SelfInstructConfig(prompts_per_round=1), InstructionRules()
    return anyio.run(
        lambda: run_round(
            engine,
            pool,
            random.Random(1),
            config=config,
            sampling=Sampling(),
            rules=rules,
            screen=screen,
            seed=5,
            provenance={},
            quality=quality,
        )  # fmt: skip
    )


def test_a_round_rejects_statements_and_refusals_with_their_reasons() -> None:
    listing = (
        " Describe a walk in the rain."
        "\nTask 5: The weather was lovely at the beach yesterday."
        "\nTask 6: Describe a sunny beach holiday in summer."
    )
    result = _round(RefusingEngine(listing), RULES)
    assert [t.instruction for t in result.accepted] == ["Describe a walk in the rain."]
    assert [(r.reason, r.instruction, r.detail) for r in result.rejections] == [
        ("not_a_task", "The weather was lovely at the beach yesterday.",
         {"first_words": "The weather was lovely at the"}),
        ("refusal", "Describe a sunny beach holiday in summer.",
         {"input": "", "output": "As an AI, I cannot write that.", "phrase": "As an AI"}),
    ]  # fmt: skip
    off = QualityRules(not_a_task=False, refusal=False)
    assert len(_round(RefusingEngine(listing), off).accepted) == 3


def test_record_only_keeps_the_task_and_stores_its_verdicts() -> None:
    listing = " Describe a walk in the rain.\nTask 5: The weather was lovely at the beach yesterday."
    result = _round(RefusingEngine(listing), QualityRules(record_only=True))
    assert result.rejections == ()
    flags = {t.instruction: t.provenance["quality_flags"] for t in result.accepted}
    assert flags == {
        "Describe a walk in the rain.": [],
        "The weather was lovely at the beach yesterday.": [
            {"reason": "not_a_task", "instance": None, "detail": {"first_words": "The weather was lovely at the"}},
            {"reason": "refusal", "instance": 0, "detail": {"phrase": "As an AI"}},
        ],
    }
