"""An annotate round over a scripted engine: self-instruct's instance prompt, checks, consistency and judge."""

from __future__ import annotations

import random

import anyio

from domain.annotations import AnnotateItem
from domain.job_spec import ConsistencyConfig, JudgeConfig, QualityRules, Sampling, SelfInstructConfig
from domain.records import Example, Instance
from generators.annotate import AnnotateSettings, annotate_round
from generators.engine import Completion
from generators.prompts import render_instance_prompt
from generators.rounds import RoundResult
from generators.self_instruct import Pool
from tests.generators.test_judge_stage import ScriptedJudge

EXAMPLES = [
    Example(instruction="Give the capital of France.", input="", output="Paris"),
    Example(instruction="Sort the numbers.", input="3, 1, 2", output="1, 2, 3"),
    Example(instruction="Is the sentence formal or informal?", input="Hey there!", output="informal",
            is_classification=True),
]  # fmt: skip
REVIEW = "Is the review positive or negative?"


class Annotator:
    """Answers instance prompts from `answers` (by task) and `answer.v1` samples from `samples`, in turn."""

    model = "scripted-annotator"

    def __init__(self, answers: dict[str, str], samples: dict[str, list[str]] | None = None) -> None:
        self.answers, self.samples = answers, {k: iter(v) for k, v in (samples or {}).items()}
        self.prompts: list[str] = []

    async def complete(self, prompts, *, sampling, stop, seed=None, logprobs=None):
        self.prompts += prompts
        return [self._answer(p) for p in prompts]

    def _answer(self, prompt: str) -> Completion:
        task = prompt.rsplit("Task: ", 1)[1].split("\n", 1)[0]
        if "Output: Jupiter" in prompt:  # consistency's fixed answer prompt
            text = next(self.samples[task])
        else:
            text = self.answers[task]
        if text == "ERROR":
            return Completion(text="", finish_reason="error", completion_tokens=0, error="down")
        return Completion(text=text, finish_reason="stop", completion_tokens=5)


def settings(**sections) -> AnnotateSettings:
    base = {"config": SelfInstructConfig(), "sampling": Sampling(), "quality": QualityRules(),
            "consistency": ConsistencyConfig(), "judge": JudgeConfig()}  # fmt: skip
    return AnnotateSettings(**(base | sections))


def item(task_id: int, instruction: str, *previous: Instance, classification: bool = False, **fields) -> AnnotateItem:
    reason = "failed_checks" if previous else "no_answer"
    return AnnotateItem(task_id=task_id, instruction=instruction, is_classification=classification, reason=reason,
                        previous=previous, **fields)  # fmt: skip


def run(engine: Annotator, items: list[AnnotateItem], judge_engine=None, **sections) -> RoundResult:
    pool = Pool(seeds=[], generated=[], examples=EXAMPLES)
    return anyio.run(lambda: annotate_round(engine, judge_engine or engine, items, pool, random.Random(3),
                                            settings=settings(**sections), seed=7))  # fmt: skip


def test_unanswered_tasks_get_a_whole_instance_from_self_instructs_prompt() -> None:
    engine = Annotator({"Name three rivers in Spain.": " None\nOutput: The Ebro, the Tajo and the Duero.",
                        REVIEW: " positive\nInput: Great phone, the battery lasts for days."})  # fmt: skip
    result = run(engine, [item(1, "Name three rivers in Spain."), item(2, REVIEW, classification=True)])
    rivers, review = result.annotated
    assert (rivers.task_id, rivers.reason, rivers.instances) == (
        1,
        "no_answer",
        (Instance(input="", output="The Ebro, the Tajo and the Duero."),),
    )
    assert (rivers.model, rivers.template) == ("scripted-annotator", "instance_input_first.v1")
    assert review.instances == (Instance(input="Great phone, the battery lasts for days.", output="positive"),)
    assert review.template == "instance_output_first.v1"  # a classification task: label first, as self-instruct
    rng = random.Random(3)  # the prompts are self-instruct's own, few-shot examples of the same kind included
    assert engine.prompts[0] == render_instance_prompt("Name three rivers in Spain.",
                                                       rng.sample(EXAMPLES[:2], 2), output_first=False)  # fmt: skip
    assert engine.prompts[1].endswith(f"Task: {REVIEW}\nClass label:")
    assert result.rejections == () and result.stages == {"tasks": 2, "answered": 2, "rejected": 0}
    assert result.accepted == () and result.tokens == 10


def test_a_task_with_an_input_or_a_chat_keeps_it_and_only_its_output_is_written() -> None:
    engine = Annotator({"Summarize the text.": " A cat slept.", "What is a fjord?": " A sea inlet."})
    old = Instance(input="The cat sat on the mat and slept.", output="As an AI, I cannot summarize.")
    result = run(engine, [item(1, "Summarize the text.", old), item(2, "What is a fjord?", in_chat=True)])
    assert [a.instances for a in result.annotated] == [
        (Instance(input="The cat sat on the mat and slept.", output="A cat slept."),),
        (Instance(input="", output="A sea inlet."),),
    ]  # fmt: skip
    assert engine.prompts[0].endswith("Task: Summarize the text.\nInput: The cat sat on the mat and slept.\nOutput:")
    assert engine.prompts[1].endswith("Task: What is a fjord?\nInput: None\nOutput:")
    assert [a.reason for a in result.annotated] == ["failed_checks", "no_answer"]


def test_answers_that_fail_a_check_are_rejections_with_the_task_id_and_the_rest_go_on() -> None:
    engine = Annotator({"Explain why the sky is blue.": " None\nOutput: As an AI language model, I cannot help.",
                        "Describe a lighthouse at night.": " None\nOutput: None",
                        "Write a short poem about autumn.": "ERROR",
                        "Name a large ocean.": " None\nOutput: The Pacific Ocean."})  # fmt: skip
    items = [item(1, "Explain why the sky is blue."), item(2, "Describe a lighthouse at night."),
             item(3, "Write a short poem about autumn."), item(4, "I went to the market yesterday."),
             item(5, "Name a large ocean.")]  # fmt: skip
    result = run(engine, items)
    assert [(r.reason, r.detail["task_id"]) for r in result.rejections] == [
        ("not_a_task", 4), ("refusal", 1), ("placeholder_output", 2), ("engine_error", 3),
    ]  # fmt: skip
    assert [a.task_id for a in result.annotated] == [5]
    assert len(engine.prompts) == 4  # a statement asks nothing: it is not sent
    assert result.stages == {"tasks": 5, "answered": 1, "rejected": 4}


def test_record_only_keeps_a_flagged_answer_with_its_verdicts() -> None:
    engine = Annotator({"Explain why the sky is blue.": " None\nOutput: As an AI language model, I cannot help."})
    [answer] = run(engine, [item(1, "Explain why the sky is blue.")], quality=QualityRules(record_only=True)).annotated
    assert [flag["reason"] for flag in answer.quality_flags] == ["refusal"]


def test_self_consistency_keeps_an_agreed_label_and_rejects_a_split_one() -> None:
    other = "Is the tweet positive or negative?"
    engine = Annotator(
        {REVIEW: " positive\nInput: I love it.", other: " positive\nInput: Meh, it rained all day."},
        samples={REVIEW: [" positive", " positive", " negative", " positive"],
                 other: [" negative", " negative", " positive", " maybe"]},
    )  # fmt: skip
    result = run(engine, [item(1, REVIEW, classification=True), item(2, other, classification=True)],
                 consistency=ConsistencyConfig(enabled=True))  # fmt: skip
    [agreed] = result.annotated
    assert agreed.task_id == 1 and agreed.notes["consistency"]["agreement"] == 0.8
    [(reason, detail)] = [(r.reason, r.detail) for r in result.rejections]
    assert reason == "inconsistent_answer" and detail["task_id"] == 2 and detail["agreement"] == 0.5
    assert result.tokens == 2 * 5 + 8 * 5  # the instances and the eight samples


def test_the_judge_scores_each_answer_and_its_bar_rejects_the_low_ones() -> None:
    engine = Annotator({"Say something good.": " None\nOutput: A good answer to that.",
                        "Say something bad.": " None\nOutput: A bad answer to that."})  # fmt: skip
    result = run(engine, [item(1, "Say something good."), item(2, "Say something bad.")], judge_engine=ScriptedJudge(),
                 judge=JudgeConfig(enabled=True, min_quality=3.0))  # fmt: skip
    [kept] = result.annotated
    assert kept.task_id == 1 and kept.judgement.score == 5.0 and kept.judgement.judge_model == "scripted-judge"
    assert [(r.reason, r.detail["task_id"]) for r in result.rejections] == [("low_quality", 2)]
    assert result.stages == {"tasks": 2, "answered": 1, "rejected": 1, "judged": 2, "scored": 2}
