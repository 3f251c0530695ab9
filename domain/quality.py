"""Quality signals that travel with a record: a judge's score and the strength of a code task's tests. Pure."""

from __future__ import annotations

from typing import Literal

import msgspec

JudgeOutcome = Literal["scored", "unreadable", "engine_error"]
ScoreMethod = Literal["logprob_weighted", "sampled_token"]
# The judge's fixed scale: every score, overall or per criterion, lies in [SCALE_MIN, SCALE_MAX].
SCALE_MIN, SCALE_MAX = 1, 5


Criterion = Literal["instruction", "answer"]


class CriterionScore(msgspec.Struct, frozen=True, kw_only=True):
    """The judge's reading of one criterion (one prompt ending in "Score:")."""

    criterion: Criterion
    outcome: JudgeOutcome
    score: float | None  # on the scale, None unless scored
    method: ScoreMethod | None  # None unless scored
    scale_mass: float | None  # None when the engine sent no log-probabilities
    template: str
    raw: str  # the start of the judge's answer, for audit
    error: str | None = None


class Judgement(msgspec.Struct, frozen=True, kw_only=True):
    """One judge's reading of one task: a score on the fixed scale, or why there is none (never a default).

    The store keeps every field but `readings` (the per-criterion detail, whose scores are in `criteria`);
    an engine error's message is kept in `error`.
    """

    outcome: JudgeOutcome
    score: float | None  # overall, on the scale; None unless scored
    criteria: dict[str, float | None]  # e.g. {"instruction": 4.2, "answer": 2.9}
    method: ScoreMethod | None  # how the score was read: expected value over the scale's tokens, or the token
    scale_mass: float | None  # the probability the judge put on the scale's tokens (logprob reading)
    judge_model: str
    template: str  # the rubric template's name with its version, e.g. "judge_answer.v1"
    raw: str = ""  # the judge's answer, shortened, for audit
    readings: tuple[CriterionScore, ...] = ()
    error: str | None = None


class MutationScore(msgspec.Struct, frozen=True, kw_only=True):
    """How much a code task's passing tests prove: the share of mutants of its solution they kill."""

    kill_rate: float | None  # killed / mutants; None when no mutant could be made
    mutants: int
    killed: int
    surviving: tuple[str, ...] = ()  # short descriptions of the mutants the tests let through
    weak_tests: tuple[str, ...] = ()  # tests that cannot fail (assert True, an assert on the function itself)
