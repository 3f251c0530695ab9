"""An LLM judge: rubric scores for (instruction, input, output) items, read from log-probabilities.

Two criteria, two short prompts (templates `judge_instruction.v1`, `judge_answer.v1`), each a few-shot
list ending in "Score:": the instruction (is it a clear, feasible request, given its input?) and the answer
(is the output correct and helpful for that instruction and input?). Two prompts rather than one because a
small judge follows one question with worked examples far better than a combined rubric, because the two
fail independently (a fine task with a wrong answer, a broken task with a fluent answer), and because a
single "Score:" answer per prompt is one token to read. The overall score for filtering is by default the
lower of the two (`overall="min"`): a training pair is only as good as its weaker half, and a mean would let a
clear task lift a wrong answer over a threshold. `overall="mean"` is there for judges whose two criteria are
not on one footing: the packaged 135M model scores instructions lower than answers across the board, so the
minimum mostly repeats its (uninformative) instruction score (see bench/judge_bench.py).

Reading a score: where the engine returns log-probabilities, the score is the expected value
sum_k k * p(k) over the scale's digits at the first non-blank generated token, renormalised over the digits;
the digits' share of the probability there is reported as `scale_mass`. Below `min_scale_mass` the reading
falls back to the sampled text, and so does an engine that sent no log-probabilities. An answer that is
neither is `unreadable`: recorded as such, never replaced by a default score.

Labels (`judge_labels`): the judge names one category from a given list for each instruction (template
`judge_label.v1`, few-shot with the caller's labelled examples); the category is the likeliest by the
probability of the tokens that decide between the names (`category_distribution`), with its share as the
confidence, else the sampled word when it is a category name, else `unreadable`.
"""

from __future__ import annotations

import asyncio
import math
import re
from collections.abc import Sequence
from typing import Literal

import msgspec

from domain.job_spec import JudgeConfig, Overall
from domain.quality import (
    SCALE_MAX,
    SCALE_MIN,
    Criterion,
    CriterionScore,
    Judgement,
    JudgeOutcome,
    ScoreMethod,
)
from generators.engine import Completion, CompletionEngine, Sampling, TokenLogprobs
from generators.templating import load_template, render

TEMPLATES = {
    "instruction": "judge_instruction.v1",
    "answer": "judge_answer.v1",
    "label": "judge_label.v1",
}
SCALE = tuple(range(SCALE_MIN, SCALE_MAX + 1))
CRITERIA: tuple[Criterion, ...] = ("instruction", "answer")
# The rubric a judgement was read with: the criteria's templates (what a stored judgement's `template` holds).
JUDGE_TEMPLATE = "+".join(TEMPLATES[c] for c in CRITERIA)
Outcome = JudgeOutcome
Method = ScoreMethod
LabelMethod = Literal["logprob_argmax", "sampled_text"]

RAW_CHARS = 40  # how much of the judge's answer is kept for audit
_STOP = ("\n",)
_DIGITS = {str(k): k for k in SCALE}
# A leading scale digit not followed by another digit: " 4", "4/5", "4." read as 4; "10" is off the scale.
_SAMPLED_SCORE = re.compile(r"\s*([1-5])(?![0-9])")
_ROUND = 4  # stored scores and masses: stable to compare, far finer than the scale


class JudgeItem(msgspec.Struct, frozen=True, kw_only=True):
    instruction: str
    input: str = ""
    output: str


def template(name: str) -> str:
    return load_template(TEMPLATES[name])


def _fill(name: str, **fields: str) -> str:
    # The file ends in a newline; the prompt must end right after "Score:" / "Category:".
    return render(TEMPLATES[name], **fields).removesuffix("\n")


def _clip(text: str, limit: int) -> str:
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " ..."


def _one_line(text: str, limit: int) -> str:
    return _clip(" ".join(text.split()), limit)


def render_judge_prompt(criterion: Criterion, item: JudgeItem, *, max_text_chars: int = 2000) -> str:
    fields = {
        "instruction": _one_line(item.instruction, max_text_chars),
        "input": _one_line(item.input, max_text_chars) or "None",
    }
    if criterion == "answer":
        fields["output"] = _clip(item.output, max_text_chars)
    return _fill(criterion, **fields)


def scale_distribution(top: dict[str, float]) -> dict[int, float]:
    """Probability of each scale value among the given top tokens (" 4" and "4" both count for 4)."""
    probabilities = dict.fromkeys(SCALE, 0.0)
    for token, logprob in top.items():
        value = _DIGITS.get(token.strip())
        if value is not None:
            probabilities[value] += math.exp(logprob)
    return probabilities


def _reading_position(completion: Completion) -> dict[str, float] | None:
    """The top log-probabilities where the answer starts: the first generated token that is not blank."""
    for token in completion.logprobs or ():
        if token.token.strip():
            return token.top
    return None


def parse_sampled_score(text: str) -> int | None:
    match = _SAMPLED_SCORE.match(text)
    return int(match.group(1)) if match else None


def read_score(completion: Completion, criterion: Criterion, *, min_scale_mass: float) -> CriterionScore:
    """The criterion's score from one judge completion, or the outcome that says why there is none."""
    name, raw = TEMPLATES[criterion], completion.text[:RAW_CHARS]
    if completion.finish_reason == "error":
        return CriterionScore(criterion=criterion, outcome="engine_error", score=None, method=None,
                              scale_mass=None, template=name, raw=raw, error=completion.error)  # fmt: skip
    mass = None
    if completion.logprobs is not None:
        probabilities = scale_distribution(_reading_position(completion) or {})
        mass = sum(probabilities.values())
        if mass >= min_scale_mass and mass > 0:
            score = sum(k * p for k, p in probabilities.items()) / mass
            return CriterionScore(criterion=criterion, outcome="scored", score=round(score, _ROUND),
                                  method="logprob_weighted", scale_mass=round(mass, _ROUND), template=name,
                                  raw=raw)  # fmt: skip
        mass = round(mass, _ROUND)
    sampled = parse_sampled_score(completion.text)
    if sampled is None:
        return CriterionScore(criterion=criterion, outcome="unreadable", score=None, method=None,
                              scale_mass=mass, template=name, raw=raw)  # fmt: skip
    return CriterionScore(criterion=criterion, outcome="scored", score=float(sampled), method="sampled_token",
                          scale_mass=mass, template=name, raw=raw)  # fmt: skip


def combine(readings: Sequence[CriterionScore], judge_model: str, overall: Overall = "min") -> Judgement:
    """One judgement from the criteria's readings: the overall score is their minimum or their mean."""
    errors = [r.error or "engine error" for r in readings if r.outcome == "engine_error"]
    outcome: Outcome = "engine_error" if errors else "scored"
    if not errors and any(r.outcome == "unreadable" for r in readings):
        outcome = "unreadable"
    masses = [r.scale_mass for r in readings]
    return Judgement(
        outcome=outcome,
        score=_overall([r.score for r in readings], overall) if outcome == "scored" else None,
        criteria={r.criterion: r.score for r in readings},
        method=None if outcome != "scored" else
        "logprob_weighted" if all(r.method == "logprob_weighted" for r in readings) else "sampled_token",
        scale_mass=None if None in masses else min(masses),
        judge_model=judge_model,
        template="+".join(r.template for r in readings),
        raw="; ".join(f"{r.criterion}: {r.raw!r}" for r in readings),
        readings=tuple(readings),
        error=errors[0] if errors else None,
    )  # fmt: skip


def _overall(scores: list[float], rule: Overall) -> float:
    return min(scores) if rule == "min" else round(sum(scores) / len(scores), _ROUND)


def judge_sampling(config: JudgeConfig) -> Sampling:
    return Sampling(temperature=config.temperature, top_p=1.0, max_tokens=config.max_tokens)


async def judge_instances(
    engine: CompletionEngine, items: Sequence[JudgeItem], config: JudgeConfig, seed: int
) -> list[Judgement]:
    """A judgement per item, in order: one engine call per criterion, both in flight together.

    A request the server refuses for good (EngineError, e.g. more log-probabilities than it allows) is
    raised: it is a configuration problem, not a property of the items.
    """
    if not items:
        return []
    sampling, logprobs = judge_sampling(config), config.logprobs or None
    calls = [
        engine.complete([render_judge_prompt(c, item, max_text_chars=config.max_text_chars) for item in items],
                        sampling=sampling, stop=_STOP, seed=seed, logprobs=logprobs)
        for c in CRITERIA
    ]  # fmt: skip
    answers = await asyncio.gather(*calls)
    return [
        combine([read_score(a, c, min_scale_mass=config.min_scale_mass) for c, a in zip(CRITERIA, row, strict=True)],
                engine.model, config.overall)
        for row in zip(*answers, strict=True)
    ]  # fmt: skip


class Label(msgspec.Struct, frozen=True, kw_only=True):
    outcome: Outcome
    category: str | None  # one of the given categories; None unless scored
    # The chosen category's share of the probability on category names (logprob_argmax only).
    confidence: float | None
    method: LabelMethod | None
    category_mass: float | None  # None when the engine sent no log-probabilities
    judge_model: str
    template: str
    raw: str
    error: str | None = None


def render_label_prompt(instruction: str, categories: Sequence[str], examples: Sequence[tuple[str, str]]) -> str:
    """`examples` are (instruction, category) pairs the model imitates, e.g. the dataset's labelled seeds."""
    shown = "\n".join(f"Task: {_one_line(text, 500)}\nCategory: {category}\n" for text, category in examples)
    return _fill("label", categories=", ".join(categories), examples=shown, instruction=_one_line(instruction, 2000))


def _owners(text: str, categories: Sequence[str]) -> list[str]:
    """The categories whose name starts with `text` (leading blanks and case ignored); all of them for ""."""
    prefix = text.lstrip().lower()
    return [c for c in categories if c.lower().startswith(prefix)]


def category_distribution(tokens: Sequence[TokenLogprobs], categories: Sequence[str]) -> dict[str, float]:
    """Probability of each category from the tokens that decide it, walking the sampled answer.

    At each position a top token counts for a category when the answer so far plus that token starts the
    category's name and no other's (" writ" is writing). The walk goes on only while the sampled token
    leaves the choice open (a blank, or " re", shared by rewriting and reasoning), carrying the probability
    of the path so far: " re" then "writing" is p(" re") * p("writing" | " re"). A shared token that was not
    sampled cannot be followed: its probability counts for no category.
    """
    probabilities = dict.fromkeys(categories, 0.0)
    prefix, path = "", 1.0
    for step in tokens:
        for token, logprob in step.top.items():
            owners = _owners(prefix + token, categories)
            if len(owners) == 1 and (prefix + token).strip():
                probabilities[owners[0]] += path * math.exp(logprob)
        prefix += step.token
        if step.logprob is None or len(_owners(prefix, categories)) < 2:
            break  # the sampled answer has decided (or left the category names): nothing more to read
        path *= math.exp(step.logprob)
    return probabilities


_WORD = re.compile(r"\s*([\w-]+)")


def parse_sampled_category(text: str, categories: Sequence[str]) -> str | None:
    match = _WORD.match(text.lower())
    names = {c.lower(): c for c in categories}
    return names.get(match.group(1)) if match else None


def read_label(completion: Completion, categories: Sequence[str], *, min_label_mass: float, judge_model: str) -> Label:
    base = {"judge_model": judge_model, "template": TEMPLATES["label"], "raw": completion.text[:RAW_CHARS]}
    if completion.finish_reason == "error":
        return Label(outcome="engine_error", category=None, confidence=None, method=None, category_mass=None,
                     error=completion.error, **base)  # fmt: skip
    mass = None
    if completion.logprobs is not None:
        probabilities = category_distribution(completion.logprobs, categories)
        mass = sum(probabilities.values())
        if mass >= min_label_mass and mass > 0:
            best = max(categories, key=lambda c: probabilities[c])  # ties: the earlier category
            return Label(outcome="scored", category=best, confidence=round(probabilities[best] / mass, _ROUND),
                         method="logprob_argmax", category_mass=round(mass, _ROUND), **base)  # fmt: skip
        mass = round(mass, _ROUND)
    sampled = parse_sampled_category(completion.text, categories)
    return Label(outcome="scored" if sampled else "unreadable", category=sampled, confidence=None,
                 method="sampled_text" if sampled else None, category_mass=mass, **base)  # fmt: skip


async def judge_labels(
    engine: CompletionEngine,
    instructions: Sequence[str],
    categories: Sequence[str],
    config: JudgeConfig,
    seed: int,
    examples: Sequence[tuple[str, str]] = (),
) -> list[Label]:
    """A category from `categories` for each instruction, in order, in one engine call."""
    if not instructions:
        return []
    prompts = [render_label_prompt(text, categories, examples) for text in instructions]
    answers = await engine.complete(prompts, sampling=judge_sampling(config), stop=_STOP, seed=seed,
                                    logprobs=config.logprobs or None)  # fmt: skip
    return [read_label(a, categories, min_label_mass=config.min_label_mass, judge_model=engine.model) for a in answers]
