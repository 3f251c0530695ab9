"""Annotate: write answers for stored tasks, through self-instruct's own instance stage.

A round takes a batch of stored tasks (`domain.annotations.AnnotateItem`) and answers each with the prompt
self-instruct writes instances with (`generators.self_instruct.instance_prompts`: output-first for a
classification task, input-first otherwise), through the same filters and model-free checks
(`accept_instances`), then self-consistency and the judge when the job turns them on, exactly as a
self-instruct round and the worker's judge stage treat accepted tasks. A task that already has an input (its
answer failed the checks) or a chat (whose user turn holds the instruction alone) keeps it: its prompt is the
input-first prompt with that input filled in ("None" when empty), so the model writes the output only.
A task that has neither gets a whole instance, as self-instruct would write for a new instruction.

An answer that fails anything is a rejection with its reason and the task's id, and the task keeps what it
had; the method walks task ids once, so the next round takes the next tasks. No I/O besides the engines.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import msgspec

from domain.annotations import AnnotateItem, Answer
from domain.job_spec import ConsistencyConfig, JudgeConfig, QualityRules, Sampling, SelfInstructConfig
from domain.records import NewTask, Rejection
from generators.categories import UNLABELLED
from generators.consistency import check_consistency
from generators.engine import Completion, CompletionEngine
from generators.judge import judge_instances
from generators.judge_stage import judge_item, verdict
from generators.prompts import TEMPLATES
from generators.quality_checks import instruction_quality_rejection
from generators.rounds import RoundResult
from generators.self_instruct import INSTANCE_STOP, Pool, accept_instances, instance_prompts


class AnnotateSettings(msgspec.Struct, frozen=True, kw_only=True):
    """The job's sections an annotate round reads (all of them the generation ones)."""

    config: SelfInstructConfig  # instance_max_tokens, instances_per_task
    sampling: Sampling
    quality: QualityRules
    consistency: ConsistencyConfig
    judge: JudgeConfig


def template_of(item: AnnotateItem) -> str:
    """The instance prompt's template: what the stored answer says wrote it."""
    return TEMPLATES["output_first" if item.is_classification and not item.keeps_input else "input_first"]


def _prompts(items: Sequence[AnnotateItem], pool: Pool, rng: random.Random, per_task: int) -> list[str]:
    """`per_task` prompts per task, in order; a kept input is written into its input-first prompt."""
    prompts = []
    for item in items:
        output_first = item.is_classification and not item.keeps_input
        written = instance_prompts([item.instruction], [output_first], pool, rng, per_task)
        prompts += [f"{p} {_shown_input(item)}\nOutput:" if item.keeps_input else p for p in written]
    return prompts


def _shown_input(item: AnnotateItem) -> str:
    return item.given_input or "None"  # the templates' word for "this task needs no input"


def _as_instance(item: AnnotateItem, completion: Completion) -> Completion:
    """A kept input's completion as the instance parser reads it: the input, then the output the model wrote."""
    if not item.keeps_input:
        return completion
    return msgspec.structs.replace(completion, text=f" {_shown_input(item)}\nOutput:{completion.text}")


def _rejection(rejection: Rejection, item: AnnotateItem) -> Rejection:
    return msgspec.structs.replace(rejection, detail={**rejection.detail, "task_id": item.task_id,
                                                      "annotate": item.reason})  # fmt: skip


def _checked(
    items: Sequence[AnnotateItem], written: list[list[Completion]], quality: QualityRules
) -> tuple[list[tuple[AnnotateItem, NewTask]], list[Rejection]]:
    """Each task with its usable instances (self-instruct's filters and checks), or its rejection."""
    kept: list[tuple[AnnotateItem, NewTask]] = []
    rejections: list[Rejection] = []
    for item, completions in zip(items, written, strict=True):
        output_first = item.is_classification and not item.keeps_input
        parsed = [_as_instance(item, c) for c in completions]
        outcome = accept_instances(item.instruction, output_first, parsed, {}, UNLABELLED, quality)
        if isinstance(outcome, Rejection):
            rejections.append(_rejection(outcome, item))
        else:  # consistency reads the task's own kind, whichever order its prompt asked in
            kept.append((item, msgspec.structs.replace(outcome, is_classification=item.is_classification)))
    return kept, rejections


async def _consistent(
    engine: CompletionEngine, kept: list[tuple[AnnotateItem, NewTask]], s: AnnotateSettings, seed: int
) -> tuple[list[tuple[AnnotateItem, NewTask]], list[Rejection], int]:
    if not s.consistency.enabled or not kept:
        return kept, [], 0
    tasks, rejections, tokens = await check_consistency(engine, [t for _, t in kept], s.consistency, s.sampling, seed)
    by_instruction = {item.instruction: item for item, _ in kept}  # unique in a dataset (exact dedup)
    return ([(by_instruction[t.instruction], t) for t in tasks],
            [_rejection(r, by_instruction[r.instruction]) for r in rejections], tokens)  # fmt: skip


async def _judged(
    judge: CompletionEngine, kept: list[tuple[AnnotateItem, NewTask]], config: JudgeConfig, seed: int
) -> tuple[list[tuple[AnnotateItem, NewTask]], list[Rejection], dict[str, int]]:
    """The judge stage of a generation round (`generators.judge_stage`), without relabelling: a stored task
    keeps its category."""
    if not config.enabled or not kept:
        return kept, [], {}
    judgements = await judge_instances(judge, [judge_item(t) for _, t in kept], config, seed)
    passed: list[tuple[AnnotateItem, NewTask]] = []
    rejections: list[Rejection] = []
    for (item, task), judgement in zip(kept, judgements, strict=True):
        rejection = verdict(task, judgement, config.min_quality)
        if rejection is None:
            passed.append((item, msgspec.structs.replace(task, judgement=judgement)))
        else:
            rejections.append(_rejection(rejection, item))
    return passed, rejections, {"judged": len(kept), "scored": sum(j.outcome == "scored" for j in judgements)}


def _answer(item: AnnotateItem, task: NewTask, model: str) -> Answer:
    notes: dict[str, Any] = {"consistency": task.provenance["consistency"]} if "consistency" in task.provenance else {}
    return Answer(task_id=item.task_id, instruction=item.instruction, reason=item.reason, instances=task.instances,
                  model=model, template=template_of(item), quality_flags=task.provenance.get("quality_flags", []),
                  judgement=task.judgement, notes=notes)  # fmt: skip


def _asks_nothing(items: Sequence[AnnotateItem], quality: QualityRules) -> tuple[list[AnnotateItem], list[Rejection]]:
    """An instruction that fails its own check (`not_a_task`) gets no answer: no answer would pass for it."""
    if quality.record_only:
        return list(items), []
    asked, rejections = [], []
    for item in items:
        found = instruction_quality_rejection(item.instruction, quality)
        if found is None:
            asked.append(item)
        else:
            reason, detail = found
            rejections.append(_rejection(Rejection(reason=reason, instruction=item.instruction, detail=detail), item))
    return asked, rejections


async def annotate_round(
    engine: CompletionEngine,
    judge: CompletionEngine,
    items: Sequence[AnnotateItem],
    pool: Pool,
    rng: random.Random,
    *,
    settings: AnnotateSettings,
    seed: int,
) -> RoundResult:
    """One round: an answer for each of `items` that passes every check, a rejection for each other one."""
    asked, rejections = _asks_nothing(items, settings.quality)
    per_task = settings.config.instances_per_task
    sampling = msgspec.structs.replace(settings.sampling, max_tokens=settings.config.instance_max_tokens)
    prompts = _prompts(asked, pool, rng, per_task)
    flat = await engine.complete(prompts, sampling=sampling, stop=list(INSTANCE_STOP), seed=seed) if prompts else []
    written = [flat[n : n + per_task] for n in range(0, len(flat), per_task)]
    kept, failed = _checked(asked, written, settings.quality)
    kept, inconsistent, spent = await _consistent(engine, kept, settings, seed)
    kept, low, judge_stages = await _judged(judge, kept, settings.judge, seed)
    rejections += [*failed, *inconsistent, *low]
    answers = tuple(_answer(item, task, engine.model) for item, task in kept)
    stages = {"tasks": len(items), "answered": len(answers), "rejected": len(rejections), **judge_stages}
    tokens = sum(c.completion_tokens for c in flat) + spent
    return RoundResult(accepted=(), rejections=tuple(rejections), stages=stages, tokens=tokens, annotated=answers)
