"""Evol-Instruct (Xu et al. 2023, WizardLM), one round at a time, over an injected `CompletionEngine`.

A round: pick parents among the dataset's tasks (seeds and tasks evolved before) whose lineage has evolved
fewer than `max_depth` times, give each an operator drawn by weight, let the model rewrite each parent with
that operator's few-shot template (one line; complicate_input then writes its new input in a second call),
screen what it wrote (parse, the paper's elimination rules on the task, the self-instruct heuristics, exact
and near-duplicates), ask whether each survivor is a classification task (`classify.v1`, as self-instruct
does), have the model answer it, and eliminate degenerate answers. Every candidate leaves the round accepted, with
its lineage in its provenance, or rejected with a reason. No I/O besides the engine; the service commits.

Near-duplicates: an in-depth evolution is meant to stay close to its parent, and its closeness to the parent
is rule 1's business (`evol_no_gain`, its own threshold). So a near-duplicate whose best match is the parent
itself passes; a breadth task (a new task) gets no such exemption. The index reports its best match only:
a third task that scores above the threshold but below the parent is not seen then (an index lookup that
leaves the parent out would close that gap).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from domain.fingerprint import fingerprint
from domain.job_spec import Elimination, EvolConfig, InstructionRules, Operator, QualityRules, Sampling
from domain.records import DEFAULT_CATEGORY, Example, Instance, NewTask, Rejection
from domain.screening import DuplicateScreen
from generators.engine import Completion, CompletionEngine
from generators.evol_checks import (
    copied_example,
    copied_prompt_words,
    degenerate_answer,
    no_gain,
    prompt_text,
)
from generators.evol_prompts import (
    ANSWER_STOP,
    EVOL_STOP,
    EVOL_TEMPLATES,
    IN_DEPTH,
    OPERATORS,
    answer_template_version,
    join_input,
    parse_answer,
    parse_evolved,
    render_answer_prompt,
    render_evol_prompt,
    render_input_prompt,
    template_examples,
)
from generators.filters import asks_for_code, instruction_rejection
from generators.prompts import TEMPLATES
from generators.quality_checks import instance_quality_rejection, instruction_quality_rejection
from generators.rounds import RoundResult
from generators.self_instruct import DEFAULT_QUALITY, classify

_ANSWER_EXAMPLES = 2


class Parent(msgspec.Struct, frozen=True, kw_only=True):
    """A task that may evolve. `task_id` is None for a task evolved earlier in this job (not stored yet when
    the round ran); its `instruction` is unique in the dataset (exact-duplicate fingerprints) and names it."""

    task_id: int | str | None
    instruction: str
    input: str = ""
    depth: Annotated[int, Meta(ge=0)] = 0
    is_classification: bool = False
    category: str = DEFAULT_CATEGORY


class EvolPool(msgspec.Struct, kw_only=True):
    parents: list[Parent]  # seeds and evolved tasks; evolved ones join as they are accepted
    examples: list[Example]  # seed tasks with an instance, for answer prompts


class Evolution(msgspec.Struct, frozen=True, kw_only=True):
    """A rewritten task that passed screening; `input` None: the answer step writes it (breadth)."""

    parent: Parent
    operator: Operator
    instruction: str
    input: str | None


def pick_parents(pool: EvolPool, rng: random.Random, config: EvolConfig) -> list[tuple[Parent, Operator]]:
    """Up to `parents_per_round` distinct parents below `max_depth`, each with an operator drawn by weight."""
    eligible = [p for p in pool.parents if p.depth < config.max_depth]
    chosen = rng.sample(eligible, min(config.parents_per_round, len(eligible)))
    operators = [op for op in OPERATORS if config.operators.get(op, 0) > 0]
    weights = [config.operators[op] for op in operators]
    return [(parent, rng.choices(operators, weights)[0]) for parent in chosen]


async def write_evolutions(
    engine: CompletionEngine, picks: list[tuple[Parent, Operator]], sampling: Sampling, seed: int
) -> tuple[list[str], list[Completion]]:
    """The evolution prompts and what came back: one line each, then complicate_input's new input (one more line)."""
    prompts = [render_evol_prompt(op, parent.instruction, parent.input) for parent, op in picks]
    written = await engine.complete(prompts, sampling=sampling, stop=list(EVOL_STOP), seed=seed)
    follow = [n for n, ((_, op), c) in enumerate(zip(picks, written, strict=True))
              if op == "complicate_input" and c.finish_reason == "stop" and c.text.strip()]  # fmt: skip
    if follow:
        asked = [render_input_prompt(prompts[n], written[n].text) for n in follow]
        inputs = await engine.complete(asked, sampling=sampling, stop=list(EVOL_STOP), seed=seed + len(prompts))
        for n, got in zip(follow, inputs, strict=True):
            both = join_input(written[n].text, got.text)  # finish reason and error: the second call's
            tokens = written[n].completion_tokens + got.completion_tokens
            written[n] = msgspec.structs.replace(got, text=both, completion_tokens=tokens)
    return prompts, written


def _task_rejection(evolution: Evolution, rules: InstructionRules, elimination: Elimination) -> tuple[str, dict] | None:
    """The checks on the rewritten text alone: copied prompt words, the self-instruct heuristics, no gain."""
    parent, text, operator = evolution.parent, evolution.instruction, evolution.operator
    copied = copied_prompt_words(text, evolution.input or "" if operator == "complicate_input" else "")
    if copied:
        return "evol_copied_prompt", {"phrase": copied}
    example = copied_example(text, parent.instruction, template_examples(operator), rules=elimination)
    if example:
        return "evol_copied_prompt", example
    reason = instruction_rejection(text, rules)
    if reason is None and not rules.allow_code_requests and asks_for_code(text):
        reason = "asks_for_code"
    if reason:
        return reason, {}
    # A breadth task was made from the parent's instruction alone, and has no input yet.
    before = parent.instruction if operator == "breadth" else prompt_text(parent.instruction, parent.input)
    gain = no_gain(before, prompt_text(text, evolution.input or ""), in_depth=operator in IN_DEPTH, rules=elimination)
    return ("evol_no_gain", gain) if gain else None


def _duplicate(evolution: Evolution, screen: DuplicateScreen) -> tuple[str, dict] | None:
    """The dataset's duplicate screen, except that an in-depth rewrite may be close to its own parent
    (closeness to the parent is `evol_no_gain`'s business)."""
    duplicate = screen.check(evolution.instruction)
    if duplicate is None:
        return None
    own_parent = duplicate.match is not None and fingerprint(duplicate.match) == fingerprint(
        evolution.parent.instruction
    )
    if duplicate.kind == "near" and own_parent and evolution.operator in IN_DEPTH:
        return None
    return duplicate.reason, duplicate.detail()


def screen_evolutions(
    picks: list[tuple[Parent, Operator]],
    completions: list[Completion],
    rules: InstructionRules,
    elimination: Elimination,
    screen: DuplicateScreen,
    quality: QualityRules = DEFAULT_QUALITY,
) -> tuple[list[Evolution], list[Rejection]]:
    """Parse and screen each rewritten task, greedy in order: a kept one blocks its duplicates after it.

    A rewrite must still ask for something (`not_a_task`, as for self-instruct's instructions): the 135M
    model sometimes "rewrites" a task into a reply ("I'm glad you asked, but I'm not sure ...").
    """
    kept: list[Evolution] = []
    rejections: list[Rejection] = []
    for (parent, operator), completion in zip(picks, completions, strict=True):
        lineage = {"operator": operator, "parent_instruction": parent.instruction}
        if completion.finish_reason == "error":
            rejections.append(
                Rejection(reason="engine_error", instruction="", detail={**lineage, "error": completion.error})
            )
            continue
        text, new_input, reason = parse_evolved(operator, completion.text, truncated=completion.truncated)
        kept_input = new_input if operator == "complicate_input" else (None if operator == "breadth" else parent.input)
        evolution = Evolution(parent=parent, operator=operator, instruction=text, input=kept_input)
        verdict = (reason, {"completion": completion.text[:500]}) if reason else None
        verdict = verdict or _task_rejection(evolution, rules, elimination)
        if verdict is None and not quality.record_only:
            verdict = instruction_quality_rejection(text, quality)
        verdict = verdict or _duplicate(evolution, screen)
        if verdict:
            rejections.append(Rejection(reason=verdict[0], instruction=text, detail={**lineage, **verdict[1]}))
            continue
        kept.append(evolution)
        screen.remember(text)
    return kept, rejections


async def write_answers(
    engine: CompletionEngine,
    kept: list[Evolution],
    flags: list[bool],
    pool: EvolPool,
    rng: random.Random,
    sampling: Sampling,
    seed: int,
) -> list[Completion]:
    """One answer per evolved task, each prompt with its own sample of same-kind seed examples."""
    prompts = []
    for evolution, is_classification in zip(kept, flags, strict=True):
        same_kind = [e for e in pool.examples if e.is_classification == is_classification] or pool.examples
        examples = rng.sample(same_kind, min(_ANSWER_EXAMPLES, len(same_kind)))
        prompts.append(
            render_answer_prompt(evolution.instruction, evolution.input, examples, is_classification=is_classification)
        )
    return await engine.complete(prompts, sampling=sampling, stop=list(ANSWER_STOP), seed=seed)


def _judge(
    evolution: Evolution,
    is_classification: bool,
    completion: Completion,
    meta: dict[str, Any],
    config: EvolConfig,
    quality: QualityRules,
) -> NewTask | Rejection:
    """The evolved task with its answer, or the reason it has none (the paper's answer rules, 2 and 3)."""
    text, operator, parent = evolution.instruction, evolution.operator, evolution.parent
    lineage = {"operator": operator, "parent_instruction": parent.instruction}
    if completion.finish_reason == "error":
        return Rejection(reason="engine_error", instruction=text, detail={**lineage, "error": completion.error})
    if completion.truncated:  # cut by the token limit: the answer is unfinished
        return Rejection(reason="instance_truncated", instruction=text,
                         detail={**lineage, "completion": completion.text[:500]})  # fmt: skip
    parsed = parse_answer(completion.text, evolution.input, is_classification=is_classification)
    if parsed is None:
        return Rejection(reason="instance_unparseable", instruction=text,
                         detail={**lineage, "completion": completion.text[:500]})  # fmt: skip
    given, output = parsed
    shown = {"input": given[:500], "output": output[:500]}
    degenerate = degenerate_answer(text, given, output, is_classification=is_classification, rules=config.elimination)
    if degenerate:
        return Rejection(reason="evol_degenerate_answer", instruction=text, detail={**lineage, **degenerate, **shown})
    # The model-free checks every generated answer passes (refusals, copies, loops, degenerate lists).
    flagged = None if quality.record_only else instance_quality_rejection(text, given, output, quality)
    if flagged:
        return Rejection(reason=flagged[0], instruction=text, detail={**lineage, **flagged[1], **shown})
    templates = {"evolve": EVOL_TEMPLATES[operator], "classify": TEMPLATES["classify"],
                 "answer": answer_template_version(evolution.input, is_classification)}  # fmt: skip
    provenance = {**meta, "templates": templates, "parent_id": parent.task_id, "parent_instruction": parent.instruction,
                  "operator": operator, "evol_depth": parent.depth + 1}  # fmt: skip
    return NewTask(
        instruction=text,
        instances=(Instance(input=given, output=output),),
        is_classification=is_classification,
        category=parent.category,  # same domain: in-depth rewrites the parent, breadth stays in its domain
        provenance=provenance,
    )


def _as_parent(task: NewTask) -> Parent:
    return Parent(task_id=None, instruction=task.instruction, input=task.instances[0].input,
                  depth=task.provenance["evol_depth"], is_classification=task.is_classification,
                  category=task.category)  # fmt: skip


def _operator_counts(picks: Sequence[tuple[Parent, Operator]], accepted: list[NewTask]) -> dict[str, int]:
    """Per operator: "<operator>.in", parents given it, and "<operator>.out", tasks accepted."""
    counts = {f"{op}.{side}": 0 for op in OPERATORS for side in ("in", "out")}
    for _, operator in picks:
        counts[f"{operator}.in"] += 1
    for task in accepted:
        counts[f"{task.provenance['operator']}.out"] += 1
    return counts


async def run_evol_round(
    engine: CompletionEngine,
    pool: EvolPool,
    rng: random.Random,
    *,
    config: EvolConfig,
    sampling: Sampling,
    rules: InstructionRules,
    screen: DuplicateScreen,
    seed: int,
    provenance: dict[str, Any],
    quality: QualityRules = DEFAULT_QUALITY,
) -> RoundResult:
    """One round; `provenance` (job, model, round ...) goes into every accepted task's, with its lineage."""
    picks = pick_parents(pool, rng, config)
    prompts, written = await write_evolutions(engine, picks, sampling, seed) if picks else ([], [])
    kept, rejections = screen_evolutions(picks, written, rules, config.elimination, screen, quality)
    flags = await classify(engine, [e.instruction for e in kept], seed) if kept else []
    answer_sampling = msgspec.structs.replace(sampling, max_tokens=config.answer_max_tokens)
    answers = await write_answers(engine, kept, flags, pool, rng, answer_sampling, seed) if kept else []
    accepted: list[NewTask] = []
    for evolution, is_classification, answer in zip(kept, flags, answers, strict=True):
        outcome = _judge(evolution, is_classification, answer, provenance, config, quality)
        if isinstance(outcome, NewTask):
            accepted.append(outcome)
            pool.parents.append(_as_parent(outcome))  # it may evolve in a later round, up to max_depth
        else:
            rejections.append(outcome)
    tokens = sum(c.completion_tokens for c in written) + sum(c.completion_tokens for c in answers)
    stages = {"prompts": len(prompts), "candidates": sum(c.finish_reason != "error" for c in written),
              "passed_filters": len(kept), "classification": sum(flags), "accepted": len(accepted),
              **_operator_counts(picks, accepted)}  # fmt: skip
    return RoundResult(accepted=tuple(accepted), rejections=tuple(rejections), stages=stages, tokens=tokens)
