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


class LabelAccuracy(msgspec.Struct, frozen=True, kw_only=True):
    """How far the labels can be trusted, on tasks labelled by people."""

    total: int
    accuracy: float  # labels (after the threshold) equal to the true category, of all tasks
    coverage: float  # share of tasks given a category rather than `uncategorized`
    covered_accuracy: float  # right, of the tasks given a category
    forced_accuracy: float  # right if every guess were taken, as before the threshold
    min_label_confidence: float


class LabelStats(msgspec.Struct, frozen=True, kw_only=True):
    """How far a dataset's generated category labels can be trusted: beside the balance they drive."""

    labelled: int  # generated tasks labelled by the labeller (with a confidence)
    uncategorized: int  # of those, left `uncategorized` (confidence below the threshold)
    confidence: dict[str, int]  # the labeller's confidence in tenths, "0.9-1.0": n
    # The labeller of this dataset (built from its seeds) scored on tasks people labelled: the packaged
    # held-out set (when the dataset uses its categories) and the dataset's own seeds, each left out in turn.
    held_out: LabelAccuracy | None = None
    seeds_left_out: LabelAccuracy | None = None
