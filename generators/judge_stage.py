"""The judge as a stage of any generation round: score the accepted tasks, and let the score decide.

After a method's round, each accepted task is judged on its first instance (`generators.judge`): the
judgement travels with the task and is stored with it. With `min_quality` set, a task scored below it
becomes a `low_quality` rejection, and one whose score could not be read (or whose judge failed) an
`unjudged` one: a bar that cannot be checked is not passed. With `label`, the judge also names each task's
category from the dataset's labelled seeds, and its confidence replaces the TF-IDF labeller's.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from domain.job_spec import JudgeConfig
from domain.quality import Judgement
from domain.records import DEFAULT_CATEGORY, NewTask, Rejection
from generators.engine import CompletionEngine
from generators.judge import JudgeItem, judge_instances, judge_labels
from generators.rounds import RoundResult


def judge_item(task: NewTask) -> JudgeItem:
    first = task.instances[0]
    return JudgeItem(instruction=task.instruction, input=first.input, output=first.output)


def verdict(task: NewTask, judgement: Judgement, min_quality: float | None) -> Rejection | None:
    """None to keep the task, or why the judge's bar keeps it out."""
    if min_quality is None:
        return None
    detail = {"score": judgement.score, "criteria": judgement.criteria, "judge_model": judgement.judge_model,
              "raw": judgement.raw, "error": judgement.error}  # fmt: skip
    if judgement.outcome != "scored":
        detail = {"outcome": judgement.outcome, **detail}
        return Rejection(reason="unjudged", instruction=task.instruction, detail=detail)
    if judgement.score is not None and judgement.score < min_quality:
        return Rejection(reason="low_quality", instruction=task.instruction, detail=detail)
    return None


async def _labelled(
    engine: CompletionEngine, tasks: list[NewTask], config: JudgeConfig, seed: int, examples: Sequence[tuple[str, str]]
) -> list[NewTask]:
    categories = sorted({category for _, category in examples if category != DEFAULT_CATEGORY})
    if not categories:
        return tasks
    labels = await judge_labels(engine, [t.instruction for t in tasks], categories, config, seed, examples)
    return [
        msgspec.structs.replace(task, category=label.category, category_confidence=label.confidence)
        if label.outcome == "scored" and label.category
        else task
        for task, label in zip(tasks, labels, strict=True)
    ]


async def judge_round(
    engine: CompletionEngine,
    result: RoundResult,
    config: JudgeConfig,
    seed: int,
    label_examples: Sequence[tuple[str, str]] = (),
) -> RoundResult:
    """`result` with a judgement on every accepted task, and the tasks below the bar moved to rejections."""
    tasks = list(result.accepted)
    if not tasks:
        return result
    judgements = await judge_instances(engine, [judge_item(t) for t in tasks], config, seed)
    if config.label:
        tasks = await _labelled(engine, tasks, config, seed, label_examples)
    kept: list[NewTask] = []
    dropped: list[Rejection] = []
    for task, judgement in zip(tasks, judgements, strict=True):
        rejection = verdict(task, judgement, config.min_quality)
        if rejection is None:
            kept.append(msgspec.structs.replace(task, judgement=judgement))
        else:
            dropped.append(rejection)
    stages = {**result.stages, "judged": len(tasks), "scored": sum(j.outcome == "scored" for j in judgements)}
    return msgspec.structs.replace(result, stages=stages).keep_only(kept, dropped)
