"""What a generation job is asked for: one typed, bounded structure from the HTTP edge to the worker.

`JobSpec` is validated once, when the request arrives (unknown fields refused, every value bounded, related
values checked together), stored as it is, and read back as itself by the store, the API and the worker.
The method configs live here too, because they are part of the request; the generators read them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.screening import NEAR_DUPLICATE_THRESHOLD

Method = Literal["self_instruct", "code"]
Share = Annotated[float, Meta(gt=0, le=1)]
CategoryName = Annotated[str, Meta(min_length=1, max_length=64)]
Word = Annotated[str, Meta(min_length=1, max_length=64)]

DEFAULT_BANNED_WORDS = (
    "image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw",
    "plot", "go to", "video", "audio", "music", "flowchart", "diagram",
)  # fmt: skip


class Config(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Base of every request struct: a typo in a field name is an error, not a silent default."""


class Sampling(Config, kw_only=True):
    temperature: Annotated[float, Meta(ge=0, le=2)] = 0.7
    top_p: Annotated[float, Meta(gt=0, le=1)] = 0.95
    max_tokens: Annotated[int, Meta(ge=8, le=4096)] = 128
    frequency_penalty: Annotated[float, Meta(ge=-2, le=2)] = 0.0
    presence_penalty: Annotated[float, Meta(ge=-2, le=2)] = 0.0


class InstructionRules(Config, kw_only=True):
    min_words: Annotated[int, Meta(ge=1, le=1000)] = 4
    max_words: Annotated[int, Meta(ge=1, le=10_000)] = 150
    banned_words: Annotated[tuple[Word, ...], Meta(max_length=1000)] = DEFAULT_BANNED_WORDS
    near_duplicate_threshold: Share = NEAR_DUPLICATE_THRESHOLD
    # The optional semantic tier: embedding cosine above this is a near-duplicate too (None: off).
    semantic_threshold: Share | None = None
    # Self-instruct only: keep instructions that ask for code. Off by default: their answers would be
    # model-written code that nothing runs; the `code` method writes code tasks and proves them.
    allow_code_requests: bool = False

    def __post_init__(self) -> None:
        if self.min_words > self.max_words:
            raise ValueError("rules.min_words must not exceed rules.max_words")
        if any(not word.strip() for word in self.banned_words):
            raise ValueError("rules.banned_words must not hold blank words")


class SelfInstructConfig(Config, kw_only=True):
    seed_tasks_per_prompt: Annotated[int, Meta(ge=1, le=20)] = 6
    generated_per_prompt: Annotated[int, Meta(ge=0, le=20)] = 2
    prompts_per_round: Annotated[int, Meta(ge=1, le=512)] = 16
    max_rounds_without_accept: Annotated[int, Meta(ge=1, le=1000)] = 10
    instance_max_tokens: Annotated[int, Meta(ge=16, le=4096)] = 256
    instances_per_task: Annotated[int, Meta(ge=1, le=8)] = 1


# Mutation testing of a code task's tests: mutants made per task by default, and the most one may ask for
# (each mutant is one sandbox run).
MAX_MUTANTS = 30
MAX_MUTANTS_LIMIT = 100


class CodeConfig(Config, kw_only=True):
    examples_per_prompt: Annotated[int, Meta(ge=1, le=8)] = 3
    generated_per_prompt: Annotated[int, Meta(ge=0, le=8)] = 1
    prompts_per_round: Annotated[int, Meta(ge=1, le=512)] = 16
    max_tokens: Annotated[int, Meta(ge=64, le=4096)] = 384
    max_tests: Annotated[int, Meta(ge=1, le=50)] = 10
    min_tests: Annotated[int, Meta(ge=1, le=50)] = 2
    max_rounds_without_accept: Annotated[int, Meta(ge=1, le=1000)] = 10
    # Mutants of each passing solution run against its tests; 0: the strength of the tests is not measured.
    max_mutants: Annotated[int, Meta(ge=0, le=MAX_MUTANTS_LIMIT)] = MAX_MUTANTS
    # A passing task whose tests kill fewer than this share of the mutants is rejected as `weak_tests`
    # (also when no mutant could be made); None keeps every passing task and only records its score.
    min_kill_rate: Annotated[float, Meta(ge=0, le=1)] | None = 0.5

    def __post_init__(self) -> None:
        if self.min_tests > self.max_tests:
            raise ValueError("code.min_tests must not exceed code.max_tests")


class JobSpec(Config, kw_only=True):
    """A generation job as it was asked for: `POST /v1/jobs`'s body, the stored job, what the worker runs."""

    dataset_id: Annotated[str, Meta(min_length=1, max_length=64)]
    method: Method = "self_instruct"
    target: Annotated[int, Meta(ge=1, le=1_000_000)]
    seed: Annotated[int, Meta(ge=0, le=2**31 - 1)] = 0
    sampling: Sampling = Sampling()
    config: SelfInstructConfig = SelfInstructConfig()  # self_instruct jobs
    code: CodeConfig = CodeConfig()  # code jobs
    rules: InstructionRules = InstructionRules()
    model: Annotated[str, Meta(min_length=1, max_length=256)] | None = None  # remote: the model to ask for
    # remote engines: a subset of the configured endpoints
    endpoints: Annotated[list[Annotated[str, Meta(min_length=1, max_length=2048)]], Meta(max_length=256)] | None = (
        None
    )
    # self_instruct: target shares per category (normalised); prompts favour the categories that lag
    category_targets: Annotated[dict[CategoryName, Share], Meta(max_length=256)] | None = None


class JobProgress(msgspec.Struct, frozen=True, kw_only=True):
    """How far a job got, committed with each round (so a restart resumes from it)."""

    rounds: int = 0
    rounds_without_accept: int = 0
    stages: dict[str, int] = msgspec.field(default_factory=dict)  # the acceptance funnel, summed over rounds
    tokens: int = 0
    elapsed_s: float = 0.0
    tokens_per_s: float = 0.0
    tasks_per_min: float = 0.0
    eta_s: float | None = None
    mix: dict[str, Any] | None = None  # category targets: achieved shares and their distance to the targets
