"""The simulated model's answers parse as the service parses a real model's, and most pass its filters."""

from __future__ import annotations

import random
from collections import Counter

from domain.fingerprint import fingerprint
from domain.job_spec import InstructionRules, QualityRules
from domain.records import Example
from domain.screening import DuplicateScreen
from generators.engine import Completion
from generators.filters import instance_rejection
from generators.prompts import (
    parse_classification,
    parse_instance,
    render_classify_prompt,
    render_instance_prompt,
    render_instructions_prompt,
)
from generators.quality_checks import instance_quality_rejection
from generators.self_instruct import INSTANCE_STOP, screen_candidates
from store.dedup.near_duplicates import NearDuplicateIndex
from tests.simfleet.texts import answer, classification_labels, finish

SEEDS = ["Write a haiku about the sea.", "Explain why the sky is blue.", "List three uses of baking soda.",
         "Give four tips for learning to cook.", "Describe a busy market in the morning.",
         "Suggest a name for a new cafe."]  # fmt: skip
EXAMPLES = [
    Example(instruction="Translate the word into French.", input="cat", output="chat", is_classification=False),
    Example(instruction="Is the number even or odd?", input="7", output="Odd", is_classification=True),
]


def completed(prompt: str, rng: random.Random, stop: list[str], max_tokens: int) -> Completion:
    pieces, reason = finish(answer(prompt, rng), stop, max_tokens)
    return Completion(text="".join(pieces), finish_reason=reason, completion_tokens=len(pieces))


def test_instruction_lists_keep_most_and_reject_some_as_duplicates_or_too_short() -> None:
    rng = random.Random(7)
    screen = DuplicateScreen({fingerprint(s) for s in SEEDS}, NearDuplicateIndex(0.7, SEEDS))
    prompts = [render_instructions_prompt(rng.sample(SEEDS, 4)) for _ in range(200)]
    listed = [completed(p, rng, ["\n\n"], 128) for p in prompts]
    kept, rejections = screen_candidates(listed, InstructionRules(), screen, QualityRules())
    reasons = Counter(r.reason for r in rejections)
    assert len(kept) > 0.75 * (len(kept) + len(rejections)), reasons
    assert reasons["too_short"] > 0 and reasons["exact_duplicate"] + reasons["near_duplicate"] > 0, reasons
    assert len(set(kept)) == len(kept)
    assert any(classification_labels(k) for k in kept) and not all(classification_labels(k) for k in kept)


def test_classification_and_instances_parse_and_pass_the_filters() -> None:
    rng = random.Random(3)
    tasks = [
        "Give five tips for camping in winter.",
        "Label each review of noisy cafes by young chefs as positive, negative or neutral.",
    ]
    yes_no = [parse_classification(completed(render_classify_prompt(t), rng, ["\n"], 8).text) for t in tasks]
    assert yes_no == [False, True]
    for task, is_classification in zip(tasks, yes_no, strict=True):
        for _ in range(20):
            prompt = render_instance_prompt(task, EXAMPLES, output_first=is_classification)
            text = completed(prompt, rng, list(INSTANCE_STOP), 256).text
            parsed = parse_instance(text, output_first=is_classification)
            assert parsed is not None, text
            assert instance_rejection(*parsed) is None, parsed
            assert instance_quality_rejection(task, *parsed, QualityRules()) is None, parsed
            if is_classification:
                assert parsed[1] in ("Positive", "Negative", "Neutral")
