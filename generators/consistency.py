"""Self-consistency (Wang et al., 2022) for answers that can be compared: labels, numbers, short answers.

An accepted task's answer is one sample from the model. For a comparable answer (`generators.answer_values`)
the model answers the same instruction and input `samples - 1` more times (template `answer.v1`, sampled at
`temperature`); the k values, the original's first, are compared after normalisation. The share of the
commonest value is the agreement. The majority answer is kept: the original output when it holds the majority
value (ties go to the original), else the first sample that does, which then replaces the output (provenance
says so). An instance whose agreement is below `min_agreement` is dropped; a task left without instances is
rejected as `inconsistent_answer` with the samples in its detail. Free-text answers are not compared.

A sample the engine failed on, or cut by the token limit, is left out of the count (it is no vote either way);
provenance then says how many answers were `counted` (1: no sample came back, so nothing was checked). An
answer that cannot be right (`invalid`: a label the instruction does not offer when it offers some, a number
answer without a number, one of the prompt's example answers copied) is no vote either, but an instance needs
`min_votes` votes to pass: agreement among fewer means nothing.

Measured (bench/consistency_bench.py, k=5, temperature 0.7, the packaged SmolLM2-135M, 76 answer sets a run):
the model is mostly wrong, and often consistently so. On the 20 seed tasks with a label answer (two runs, 40
sets each, judged by these rules), a single answer is right 10-11/40, the majority 14/40; the sets that pass
hold a right majority 11/25 and 12/24, the rejected ones 3/15 and 2/16. Arithmetic (12 tasks): 0-1/24 single
answers right, 0/24 passing majorities right. Agreement removes answers the model cannot repeat; it cannot
make a 135M model right.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import cache
from typing import Any

import msgspec

from domain.job_spec import ConsistencyConfig, Sampling
from domain.records import Instance, NewTask, Rejection
from generators.answer_values import AnswerKind, answer_kind, normalise, normalise_short, off_list
from generators.engine import CompletionEngine
from generators.quality_checks import placeholder_output
from generators.templating import load_template

TEMPLATE = "answer.v1"
REJECTION = "inconsistent_answer"
_STOP = ["\nTask:", "\n\n"]
_DETAIL_CHARS = 300


class AnswerItem(msgspec.Struct, frozen=True, kw_only=True):
    instruction: str
    input: str
    output: str
    is_classification: bool = False


class ConsistencyResult(msgspec.Struct, frozen=True, kw_only=True):
    comparable: bool
    kind: AnswerKind | None = None
    agreement: float = 1.0  # share of the counted values that equal the majority value
    answer: str = ""  # the majority answer's text: the original output, or the sample that replaces it
    replaced: bool = False  # the original output was in the minority
    values: tuple[str | None, ...] = ()  # k normalised values, the original's first; None: not counted
    counted: int = 0  # answers read (the original's included); 1: no sample came back, nothing was checked
    invalid: int = 0  # of those, answers that cannot be right (`judge`): no vote

    @property
    def votes(self) -> int:
        return self.counted - self.invalid

    samples: tuple[str, ...] = ()  # the k - 1 sampled answers as the model wrote them
    tokens: int = 0  # completion tokens the samples cost


def _template() -> str:
    return load_template(TEMPLATE)


def render_answer_prompt(instruction: str, input_text: str) -> str:
    """The fixed few-shot answer prompt, ending at "Output:"."""
    return _template().format(instruction=" ".join(instruction.split()), input=input_text.strip() or "None").rstrip()


@cache
def _example_answers(kind: AnswerKind) -> frozenset[str]:
    lines = _template().splitlines()
    return frozenset(normalise(kind, line.removeprefix("Output:")) for line in lines if line.startswith("Output: "))


def invalid_answer(item: AnswerItem, kind: AnswerKind, value: str) -> bool:
    """An answer that cannot be right (see `judge`)."""
    if (kind == "label" and off_list(item.instruction, value)) or (kind == "number" and value.startswith("text:")):
        return True
    return value in _example_answers(kind) and value not in normalise_short(f"{item.instruction} {item.input}")


def agreement(values: Sequence[str | None]) -> tuple[float, str | None]:
    """(share of the commonest value, that value) over the values that are not None; ties go to the first seen."""
    counted = [v for v in values if v is not None]
    if not counted:
        return 0.0, None
    value, count = Counter(counted).most_common(1)[0]  # most_common keeps first-seen order among ties
    return count / len(counted), value


def judge(
    item: AnswerItem, kind: AnswerKind, samples: Sequence[tuple[str, bool]], tokens: int = 0
) -> ConsistencyResult:
    """Compare the original with its samples ((text, usable) pairs) and pick the majority answer.

    An answer that cannot be right is no vote (None in `values`): a label the instruction does not offer, a
    "number" without one ("None"), or an answer of the prompt's examples that the task does not mention (the
    135M model copies them: "negative" x5), or a placeholder ("None", "N/A": on a real job 3 of 5 samples
    said "None" and outvoted a real answer, after the model-free checks had passed the original).
    """
    texts = (item.output, *(text for text, _ in samples))
    read = (normalise(kind, item.output), *(normalise(kind, text) if usable else None for text, usable in samples))
    rejected = [
        v is not None and (invalid_answer(item, kind, v) or placeholder_output(text) is not None)
        for v, text in zip(read, texts, strict=True)
    ]
    values = tuple(None if bad else v for v, bad in zip(read, rejected, strict=True))
    share, majority = agreement(values)
    replaced = majority is not None and values[0] != majority
    answer = next(text.strip() for (text, _), v in zip(samples, values[1:], strict=True) if v == majority) \
        if replaced else item.output  # fmt: skip
    return ConsistencyResult(comparable=True, kind=kind, agreement=round(share, 4), answer=answer,
                             replaced=replaced, values=values, counted=sum(v is not None for v in read),
                             invalid=sum(rejected), samples=tuple(t for t, _ in samples), tokens=tokens)  # fmt: skip


async def resample_answers(
    engine: CompletionEngine, items: Sequence[AnswerItem], config: ConsistencyConfig, sampling: Sampling, seed: int
) -> list[ConsistencyResult]:
    """One result per item, in order; one engine call asks for every sample."""
    kinds = [answer_kind(i.instruction, i.is_classification, i.output, short_max_words=config.short_max_words)
             for i in items]  # fmt: skip
    asked = [i for i, kind in zip(items, kinds, strict=True) if kind is not None]
    extra = config.samples - 1
    prompts = [render_answer_prompt(i.instruction, i.input) for i in asked for _ in range(extra)]
    answer_sampling = msgspec.structs.replace(sampling, temperature=config.temperature, max_tokens=config.max_tokens)
    completions = await engine.complete(prompts, sampling=answer_sampling, stop=_STOP, seed=seed) if prompts else []
    results: list[ConsistencyResult] = []
    n = 0
    for item, kind in zip(items, kinds, strict=True):
        if kind is None:
            results.append(ConsistencyResult(comparable=False))
            continue
        group = completions[n : n + extra]
        n += extra
        usable = [(c.text, c.finish_reason == "stop") for c in group]
        results.append(judge(item, kind, usable, tokens=sum(c.completion_tokens for c in group)))
    return results


def _items(tasks: Sequence[NewTask]) -> list[AnswerItem]:
    return [AnswerItem(instruction=t.instruction, input=i.input, output=i.output, is_classification=t.is_classification)
            for t in tasks for i in t.instances]  # fmt: skip


def _detail(result: ConsistencyResult, output: str) -> dict[str, Any]:
    return {"kind": result.kind, "agreement": result.agreement, "output": output[:_DETAIL_CHARS],
            "values": list(result.values), "votes": result.votes, "invalid": result.invalid,
            "samples": [s[:_DETAIL_CHARS] for s in result.samples]}  # fmt: skip


def apply_results(
    tasks: Sequence[NewTask], results: Sequence[ConsistencyResult], config: ConsistencyConfig
) -> tuple[list[NewTask], list[Rejection]]:
    """The tasks with majority answers and consistency provenance, and the `inconsistent_answer` rejections.

    `results` holds one result per instance, task by task (as `resample_answers` gives them for `_items`).
    An instance below `min_agreement` is dropped (counted in provenance); a task left with none is rejected.
    """
    kept: list[NewTask] = []
    rejections: list[Rejection] = []
    position = 0
    for task in tasks:
        mine = results[position : position + len(task.instances)]
        position += len(task.instances)
        if not any(r.comparable for r in mine):
            kept.append(task)  # free text: nothing to compare, left as it was
            continue
        keep = [passes(r, config) for r in mine]
        if not any(keep):
            worst = min(range(len(mine)), key=lambda n: mine[n].agreement)
            detail = _detail(mine[worst], task.instances[worst].output)
            rejections.append(Rejection(reason=REJECTION, instruction=task.instruction, detail=detail))
            continue
        kept.append(_with_majority(task, mine, keep, config))
    return kept, rejections


def passes(result: ConsistencyResult, config: ConsistencyConfig) -> bool:
    """Whether an instance keeps its place: agreement of enough votes, or nothing to judge by."""
    if not result.comparable or result.counted <= 1:  # free text, or no sample came back: nothing to judge by
        return True
    return result.votes >= config.min_votes and result.agreement >= config.min_agreement


def _with_majority(
    task: NewTask, results: Sequence[ConsistencyResult], keep: list[bool], config: ConsistencyConfig
) -> NewTask:
    """`task` with its kept instances (majority answers in place) and a `consistency` provenance note."""
    pairs = [(i, r) for i, r, k in zip(task.instances, results, keep, strict=True) if k]
    compared = [r for _, r in pairs if r.comparable]
    note: dict[str, Any] = {"samples": config.samples, "kind": next(r.kind for r in results if r.comparable),
                            "template": TEMPLATE}  # fmt: skip
    if compared:
        note["agreement"] = min(r.agreement for r in compared)  # the weakest kept instance speaks for the task
        if min(r.counted for r in compared) < config.samples:  # failed or cut samples were not counted
            note["counted"] = min(r.counted for r in compared)
    replaced = [i.output for i, r in pairs if r.replaced]
    if replaced:
        note["replaced_outputs"] = replaced  # the minority answers the majority answer replaced
    if not all(keep):
        note["dropped_instances"] = keep.count(False)
    instances = tuple(Instance(input=i.input, output=r.answer) if r.replaced else i for i, r in pairs)
    return msgspec.structs.replace(task, instances=instances, provenance={**task.provenance, "consistency": note})


async def check_consistency(
    engine: CompletionEngine, tasks: Sequence[NewTask], config: ConsistencyConfig, sampling: Sampling, seed: int
) -> tuple[list[NewTask], list[Rejection], int]:
    """The round's hook: kept tasks, `inconsistent_answer` rejections, and the tokens the samples cost."""
    results = await resample_answers(engine, _items(tasks), config, sampling, seed)
    kept, rejections = apply_results(tasks, results, config)
    return kept, rejections, sum(r.tokens for r in results)
