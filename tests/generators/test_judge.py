"""The judge's pure core: prompt rendering, score arithmetic from log-probabilities, fallbacks, outcomes."""

from __future__ import annotations

import math

import anyio
import msgspec
import pytest

from generators.engine import Completion, TokenLogprobs
from generators.judge import (
    TEMPLATES,
    CriterionScore,
    JudgeConfig,
    JudgeItem,
    category_distribution,
    combine,
    judge_instances,
    judge_labels,
    parse_sampled_category,
    parse_sampled_score,
    read_label,
    read_score,
    render_judge_prompt,
    render_label_prompt,
    scale_distribution,
    template,
)

ITEM = JudgeItem(instruction="Name a  primary\ncolour.", input="", output="Red.\nAlso blue.")
CATEGORIES = ("writing", "rewriting", "reasoning", "math", "open_qa")


def lp(probability: float) -> float:
    return math.log(probability)


def answer(*steps: tuple[str, dict[str, float]], text: str | None = None) -> Completion:
    """A completion whose generated tokens and top log-probabilities are given (as probabilities)."""
    tokens = tuple(TokenLogprobs(token=t, logprob=lp(top[t]) if t in top else None,
                                 top={k: lp(p) for k, p in top.items()}) for t, top in steps)  # fmt: skip
    joined = "".join(t for t, _ in steps) if text is None else text
    return Completion(text=joined, finish_reason="stop", completion_tokens=len(steps), logprobs=tokens)


def test_every_judge_template_is_a_versioned_package_file() -> None:
    for name, versioned in TEMPLATES.items():
        assert versioned == f"judge_{name}.v1"
        assert template(name).count("{instruction}") == 1


def test_instruction_prompt_ends_with_the_item_and_score() -> None:
    prompt = render_judge_prompt("instruction", ITEM)
    assert prompt.startswith("Rate each task from 1 to 5 for how clear and feasible it is:")
    assert prompt.endswith(
        "Task: List three uses of baking soda in the kitchen.\nInput: None\nScore: 4\n\n"
        "Task: Name a primary colour.\nInput: None\nScore:"
    )
    assert "{" not in prompt


def test_answer_prompt_keeps_the_output_lines_and_clips_long_text() -> None:
    prompt = render_judge_prompt("answer", ITEM)
    assert prompt.endswith("Task: Name a primary colour.\nInput: None\nOutput: Red.\nAlso blue.\nScore:")
    long = JudgeItem(instruction="Say it.", input="x " * 200, output="y" * 150)
    assert render_judge_prompt("answer", long, max_text_chars=100).endswith(
        f"Task: Say it.\nInput: {'x ' * 49}x ...\nOutput: {'y' * 100} ...\nScore:"
    )


def test_the_whole_answer_prompt_is_exactly_the_template() -> None:
    prompt = render_judge_prompt("answer", JudgeItem(instruction="Add 2 and 3.", input="", output="5"))
    assert prompt == (
        "Rate each output from 1 to 5 for how correct and helpful it is as the answer to its task and input. "
        "5: correct, complete and helpful. 3: partly right or incomplete. 1: wrong, off-topic, cut off or "
        "nonsense.\n\n"
        "Task: What is the capital of Australia?\nInput: None\nOutput: The capital of Australia is Canberra.\n"
        "Score: 5\n\n"
        "Task: Classify the sentiment of the review as positive or negative.\nInput: The food was cold and the "
        "waiter ignored us.\nOutput: Paris is the capital of France.\nScore: 1\n\n"
        "Task: Summarize the paragraph in one sentence.\nInput: The city council voted on Tuesday to build a new "
        "library, which will open in 2026 and hold 200,000 books.\nOutput: The city council voted\nScore: 2\n\n"
        "Task: Give two tips for sleeping better.\nInput: None\nOutput: Go to bed at the same time every night, "
        "and avoid screens for an hour before sleep.\nScore: 5\n\n"
        "Task: Add 2 and 3.\nInput: None\nOutput: 5\nScore:"
    )


def test_scale_distribution_sums_digit_tokens_with_and_without_a_space() -> None:
    top = {"4": lp(0.5), " 4": lp(0.1), "5": lp(0.2), "10": lp(0.05), "\n": lp(0.15)}
    assert scale_distribution(top) == pytest.approx({1: 0.0, 2: 0.0, 3: 0.0, 4: 0.6, 5: 0.2})


def test_score_is_the_expected_value_renormalised_over_the_scale() -> None:
    # The tokenizer splits " 4" into " " and "4": the reading is at the first non-blank token.
    completion = answer((" ", {" ": 0.95, " A": 0.05}), ("4", {"4": 0.6, "5": 0.2, "The": 0.2}), ("\n", {"\n": 1}))
    score = read_score(completion, "answer", min_scale_mass=0.5)
    assert score == CriterionScore(criterion="answer", outcome="scored", score=4.25, method="logprob_weighted",
                                   scale_mass=0.8, template="judge_answer.v1", raw=" 4\n")  # fmt: skip


def test_an_even_spread_scores_the_middle() -> None:
    completion = answer(("1", {str(k): 0.2 for k in range(1, 6)}))
    score = read_score(completion, "instruction", min_scale_mass=0.5)
    assert (score.score, score.scale_mass, score.method) == (3.0, 1.0, "logprob_weighted")


def test_low_scale_mass_falls_back_to_the_sampled_text() -> None:
    completion = answer(("The", {"The": 0.7, "2": 0.3}), (" score", {" score": 1.0}), text=" 2 out of 5")
    score = read_score(completion, "answer", min_scale_mass=0.5)
    assert (score.outcome, score.score, score.method, score.scale_mass) == ("scored", 2.0, "sampled_token", 0.3)


def test_no_logprobs_reads_the_sampled_token() -> None:
    plain = Completion(text=" 4/5", finish_reason="stop", completion_tokens=3)
    score = read_score(plain, "instruction", min_scale_mass=0.5)
    assert (score.outcome, score.score, score.method, score.scale_mass) == ("scored", 4.0, "sampled_token", None)


@pytest.mark.parametrize(("text", "expected"), [(" 4", 4), ("5.", 5), ("1\n", 1), (" 10", None), (" 0", None),
                                                (" six", None), ("", None), ("Score 3", None)])  # fmt: skip
def test_parse_sampled_score(text: str, expected: int | None) -> None:
    assert parse_sampled_score(text) == expected


def test_no_digit_mass_and_no_parse_is_unreadable() -> None:
    completion = answer((" The", {" The": 0.6, " It": 0.4}), (" answer", {" answer": 1.0}))
    score = read_score(completion, "answer", min_scale_mass=0.5)
    assert score == CriterionScore(criterion="answer", outcome="unreadable", score=None, method=None, scale_mass=0.0,
                                   template="judge_answer.v1", raw=" The answer")  # fmt: skip


def test_a_blank_answer_is_unreadable() -> None:
    score = read_score(answer((" ", {" ": 1.0})), "instruction", min_scale_mass=0.5)
    assert (score.outcome, score.scale_mass) == ("unreadable", 0.0)


def test_engine_error_passes_through() -> None:
    failed = Completion(text="", finish_reason="error", completion_tokens=0, error="http://x answered 503")
    score = read_score(failed, "answer", min_scale_mass=0.5)
    assert (score.outcome, score.score, score.error) == ("engine_error", None, "http://x answered 503")


def _criterion(name: str, outcome: str = "scored", score: float | None = 4.0, method: str | None = "logprob_weighted",
               mass: float | None = 0.9) -> CriterionScore:  # fmt: skip
    return CriterionScore(criterion=name, outcome=outcome, score=score, method=method, scale_mass=mass,
                          template=f"judge_{name}.v1", raw="")  # fmt: skip


def test_overall_is_the_lower_criterion() -> None:
    judgement = combine([_criterion("instruction", score=4.5), _criterion("answer", score=2.25, mass=0.7)], "m")
    assert (judgement.outcome, judgement.score, judgement.method, judgement.scale_mass) == (
        "scored", 2.25, "logprob_weighted", 0.7)  # fmt: skip
    assert (judgement.judge_model, judgement.template) == ("m", "judge_instruction.v1+judge_answer.v1")
    assert judgement.criteria == {"instruction": 4.5, "answer": 2.25}


def test_overall_can_be_the_mean() -> None:
    judgement = combine([_criterion("instruction", score=4.5), _criterion("answer", score=2.25)], "m", "mean")
    assert judgement.score == 3.375


def test_one_sampled_criterion_makes_the_judgement_sampled() -> None:
    judgement = combine([_criterion("instruction"), _criterion("answer", method="sampled_token", mass=None)], "m")
    assert (judgement.score, judgement.method, judgement.scale_mass) == (4.0, "sampled_token", None)


def test_unreadable_and_engine_error_leave_no_overall_score() -> None:
    unreadable = _criterion("answer", outcome="unreadable", score=None, method=None, mass=0.1)
    judgement = combine([_criterion("instruction"), unreadable], "m")
    assert (judgement.outcome, judgement.score, judgement.method) == ("unreadable", None, None)
    assert judgement.criteria == {"instruction": 4.0, "answer": None}  # the readable criterion is kept
    failed = msgspec.structs.replace(unreadable, outcome="engine_error", error="timeout")
    judgement = combine([_criterion("instruction"), failed], "m")
    assert (judgement.outcome, judgement.score, judgement.error) == ("engine_error", None, "timeout")


class ScriptedEngine:
    """Answers each judge prompt by its criterion (the template's first word), records the calls."""

    model = "judge-model"

    def __init__(self, answers: dict[str, list[Completion]]) -> None:
        self.answers, self.calls = answers, []

    async def complete(self, prompts, *, sampling, stop, seed=None, logprobs=None):
        self.calls.append((len(prompts), sampling, tuple(stop), logprobs))
        kind = "instruction" if prompts[0].startswith("Rate each task") else "answer"
        return self.answers[kind][: len(prompts)]

    async def aclose(self) -> None:
        pass


def test_judge_instances_makes_one_call_per_criterion_and_keeps_the_order() -> None:
    five, two = answer(("5", {"5": 1.0})), answer(("2", {"2": 1.0}))
    failed = Completion(text="", finish_reason="error", completion_tokens=0, error="503")
    engine = ScriptedEngine({"instruction": [five, five, five], "answer": [two, failed, five]})
    judgements = anyio.run(judge_instances, engine, [ITEM, ITEM, ITEM], JudgeConfig(), 7)
    assert [(j.outcome, j.score) for j in judgements] == [("scored", 2.0), ("engine_error", None), ("scored", 5.0)]
    assert (judgements[0].judge_model, judgements[0].raw) == ("judge-model", "instruction: '5'; answer: '2'")
    assert judgements[1].error == "503"
    assert len(engine.calls) == 2
    count, sampling, stop, logprobs = engine.calls[0]
    assert (count, sampling.temperature, sampling.max_tokens, stop, logprobs) == (3, 0.0, 8, ("\n",), 20)


def test_judge_instances_without_logprobs_asks_for_none() -> None:
    engine = ScriptedEngine({"instruction": [Completion(text=" 3", finish_reason="stop", completion_tokens=2)],
                             "answer": [Completion(text=" 4", finish_reason="stop", completion_tokens=2)]})  # fmt: skip
    [judgement] = anyio.run(judge_instances, engine, [ITEM], JudgeConfig(logprobs=0), 0)
    assert (judgement.score, judgement.method) == (3.0, "sampled_token")
    assert engine.calls[0][3] is None


def test_judge_config_is_bounded_and_strict() -> None:
    with pytest.raises(msgspec.ValidationError, match="min_scale_mass"):
        msgspec.convert({"min_scale_mass": 1.5}, JudgeConfig)
    with pytest.raises(msgspec.ValidationError, match="unknown field"):
        msgspec.convert({"temprature": 0}, JudgeConfig)


def test_label_prompt_lists_the_categories_and_the_examples() -> None:
    prompt = render_label_prompt("Solve  2x = 4.", ["math", "writing"], [("Add 1 and 2.", "math")])
    assert prompt == (
        "Each task below belongs to exactly one of these categories: math, writing.\n\n"
        "Task: Add 1 and 2.\nCategory: math\n\n"
        "Task: Solve 2x = 4.\nCategory:"
    )


def test_category_distribution_counts_only_unambiguous_prefixes() -> None:
    steps = answer((" writ", {" writ": 0.4, " re": 0.3, " math": 0.1, " open": 0.05, " The": 0.15}),
                   ("ing", {"ing": 1.0})).logprobs  # fmt: skip
    assert category_distribution(steps, CATEGORIES) == pytest.approx(
        {"writing": 0.4, "rewriting": 0.0, "reasoning": 0.0, "math": 0.1, "open_qa": 0.05})  # fmt: skip


def test_category_distribution_follows_a_shared_first_token() -> None:
    # " re" starts rewriting and reasoning: the next token decides, weighted by p(" re").
    steps = answer((" ", {" ": 0.5, " math": 0.5}), ("re", {"re": 0.8, "math": 0.2}),
                   ("writing", {"writing": 0.9, "asoning": 0.1}), ("\n", {"\n": 1.0})).logprobs  # fmt: skip
    assert category_distribution(steps, CATEGORIES) == pytest.approx(
        {"writing": 0.0, "rewriting": 0.36, "reasoning": 0.04, "math": 0.6, "open_qa": 0.0})  # fmt: skip


def test_label_from_first_token_with_confidence() -> None:
    completion = answer((" writing", {" writing": 0.6, " math": 0.2, " The": 0.2}))
    label = read_label(completion, CATEGORIES, min_label_mass=0.5, judge_model="m")
    assert (label.outcome, label.category, label.confidence, label.method, label.category_mass) == (
        "scored", "writing", 0.75, "logprob_argmax", 0.8)  # fmt: skip
    assert (label.judge_model, label.template) == ("m", "judge_label.v1")


def test_label_falls_back_to_the_text_then_unreadable() -> None:
    unsure = answer((" reasoning", {" reasoning": 0.3, " math": 0.1, " The": 0.6}), ("\n", {"\n": 1.0}))
    label = read_label(unsure, CATEGORIES, min_label_mass=0.5, judge_model="m")
    assert (label.outcome, label.category, label.method, label.category_mass) == (
        "scored", "reasoning", "sampled_text", 0.4)  # fmt: skip
    nothing = Completion(text=" poetry", finish_reason="stop", completion_tokens=1)
    label = read_label(nothing, CATEGORIES, min_label_mass=0.5, judge_model="m")
    assert (label.outcome, label.category, label.method) == ("unreadable", None, None)


SAMPLED_CATEGORIES = [(" open_qa", "open_qa"), (" Math.", "math"), ("writing, maybe", "writing"), (" write", None),
                      ("", None)]  # fmt: skip


@pytest.mark.parametrize(("text", "expected"), SAMPLED_CATEGORIES)
def test_parse_sampled_category(text: str, expected: str | None) -> None:
    assert parse_sampled_category(text, CATEGORIES) == expected


def test_judge_labels_one_call_in_order() -> None:
    class LabelEngine(ScriptedEngine):
        async def complete(self, prompts, *, sampling, stop, seed=None, logprobs=None):
            self.calls.append((len(prompts), sampling, tuple(stop), logprobs))
            return [answer((" math", {" math": 0.9, " writing": 0.1})), answer((" writing", {" writing": 1.0}))]

    engine = LabelEngine({})
    labels = anyio.run(judge_labels, engine, ["Add 2 and 2.", "Write a poem."], CATEGORIES, JudgeConfig(), 0)
    assert [(label.category, label.confidence) for label in labels] == [("math", 0.9), ("writing", 1.0)]
    assert len(engine.calls) == 1
