"""What a generation job is asked for: one typed, bounded structure from the HTTP edge to the worker.

`JobSpec` is validated once, when the request arrives (unknown fields refused, every value bounded, related
values checked together), stored as it is, and read back as itself by the store, the API and the worker.
The method configs live here too, because they are part of the request; the generators read them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from domain.quality import SCALE_MAX, SCALE_MIN
from domain.records import Source
from domain.screening import NEAR_DUPLICATE_THRESHOLD

Method = Literal["self_instruct", "code", "evol", "judge", "annotate"]
# Evol-Instruct's operators: five in depth (a harder version of the task) and one in breadth (a new task).
Operator = Literal["add_constraints", "deepen", "concretize", "increase_reasoning", "complicate_input", "breadth"]
Overall = Literal["min", "mean"]  # how a judge's criteria make its overall score
Share = Annotated[float, Meta(gt=0, le=1)]
CategoryName = Annotated[str, Meta(min_length=1, max_length=64)]
Word = Annotated[str, Meta(min_length=1, max_length=64)]
Endpoints = Annotated[list[Annotated[str, Meta(min_length=1, max_length=2048)]], Meta(min_length=1, max_length=256)]

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


class QualityRules(Config, kw_only=True):
    """Each check's switch and thresholds.

    The defaults sit outside what the human-written seeds reach: none of 335 instructions (the paper's
    175, the 120 default and 40 code seeds) is `not_a_task`, and one of their 345 instances trips a
    rule (a code bug-fix, `copies_input`); the margins are given per field. Precision read on a real
    record-only job (400 tasks, 2026-12-02) is in the README; `bench/quality_checks_bench.py --dump` lists
    every firing on the seeds.
    """

    refusal: bool = True
    placeholder_output: bool = True
    copies_instruction: bool = True
    copies_input: bool = True
    degenerate_list: bool = True
    repetitive_output: bool = True
    not_a_task: bool = True
    # Judge without rejecting: a task that fails a check is kept, its verdicts in provenance
    # `quality_flags` (to read a rule's precision on a real job, or to filter later by flag).
    record_only: bool = False
    # copies_*: an output of at least `copy_min_words` words whose ROUGE-L F against the input (or
    # the instruction) reaches the threshold. Shorter outputs are labels and extractions, legitimately
    # words of the input. Seeds: edit tasks reach F 0.80-0.89 against their input (one code fix 0.97);
    # no seed output passes F 0.71 against its instruction.
    copy_min_words: Annotated[int, Meta(ge=1, le=1000)] = 4
    copy_input_threshold: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.9
    copy_instruction_threshold: Annotated[float, Meta(gt=0.0, le=1.0)] = 0.85
    # degenerate_list: an output with at least `list_min_items` list markers where the share of items
    # that are empty (numbering or punctuation only) or repeat an earlier item exceeds the threshold
    # (more than half by default: a few repeated labels, "1. positive 2. negative 3. positive", pass).
    # Seeds: 47 outputs hold two or more items, none of them a bad one.
    list_min_items: Annotated[int, Meta(ge=2, le=1000)] = 2
    list_bad_item_share: Annotated[float, Meta(ge=0.0, lt=1.0)] = 0.5
    # repetitive_output: a unit of 1..`repeat_max_unit` words said `repeat_min_count` times in a row,
    # covering at least `repeat_min_covered` words; or, from `repeat_min_words` words on, distinct word
    # `repeat_ngram`-grams fewer than `repeat_distinct_min` of all. On the 345 seed instances the longest
    # run is 2 ("you you"), the lowest distinct-3 ratio 0.73.
    repeat_max_unit: Annotated[int, Meta(ge=1, le=64)] = 16
    repeat_min_count: Annotated[int, Meta(ge=2, le=1000)] = 3
    repeat_min_covered: Annotated[int, Meta(ge=2, le=10_000)] = 6
    repeat_ngram: Annotated[int, Meta(ge=1, le=10)] = 3
    repeat_min_words: Annotated[int, Meta(ge=2, le=10_000)] = 20
    repeat_distinct_min: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.5

    def __post_init__(self) -> None:
        if self.repeat_min_words <= self.repeat_ngram:
            raise ValueError("repeat_min_words must exceed repeat_ngram (no n-gram ratio on fewer words)")
        if self.repeat_min_covered < self.repeat_min_count:
            raise ValueError("repeat_min_covered must be at least repeat_min_count (each repeat is a word or more)")


class JudgeConfig(Config, kw_only=True):
    """The judge of a job (`generators.judge`): which model scores each accepted task, and the bar it sets.

    The judge is an engine of its own: by default the generation engine; `INSTRUCTFORGE_JUDGE_ENDPOINTS`
    and `_JUDGE_MODEL` name another (a large remote model judging a small one), and a job may narrow those
    endpoints or name the model, as it may for generation.
    """

    enabled: bool = False
    # Accepted tasks whose overall score is below this are rejected as `low_quality`, and tasks whose score
    # cannot be read (or whose judge failed) as `unjudged`; None: every score is stored, none rejects.
    min_quality: Annotated[float, Meta(ge=SCALE_MIN, le=SCALE_MAX)] | None = None
    endpoints: Endpoints | None = None
    model: Annotated[str, Meta(min_length=1, max_length=256)] | None = None
    # Let the judge label each task's category (from the dataset's seed categories) instead of TF-IDF.
    label: bool = False
    # A `judge` job (scoring a dataset's stored tasks) reads this many tasks a round.
    batch: Annotated[int, Meta(ge=1, le=4096)] = 32
    temperature: Annotated[float, Meta(ge=0, le=2)] = 0.0
    # A score is one or two tokens (vLLM tokenizers split " 4" into " " and "4"); the stop is the newline.
    max_tokens: Annotated[int, Meta(ge=8, le=64)] = 8
    # Top log-probabilities asked per token; 0 reads the sampled token only. vLLM allows 20 by default.
    logprobs: Annotated[int, Meta(ge=0, le=20)] = 20
    # Below this share of probability on the scale's digits the judge was not answering with a score.
    min_scale_mass: Annotated[float, Meta(ge=0, le=1)] = 0.5
    # Instruction, input and output are each cut to this many characters to fit the judge's context.
    max_text_chars: Annotated[int, Meta(ge=100, le=100_000)] = 2000
    # Labels: below this share of probability on category names the first token was not a category.
    min_label_mass: Annotated[float, Meta(ge=0, le=1)] = 0.5
    # How the criteria make the overall score (see the module docstring).
    overall: Overall = "min"


class AnnotateConfig(Config, kw_only=True):
    """An `annotate` job (`generators.annotate`): which stored tasks it answers, and how many a round.

    It answers tasks that have none (`no_answer`: imported instructions) and tasks whose answer fails the
    model-free checks (`failed_checks`: provenance `quality_flags` not empty), each task once, in id order; the
    instance prompt and its knobs (`config.instance_max_tokens`, `config.instances_per_task`), the quality
    checks, the judge and self-consistency are the generation ones. The job's `target` counts answers written.
    """

    batch: Annotated[int, Meta(ge=1, le=4096)] = 16  # tasks a round
    targets: Literal["no_answer", "failed_checks", "both"] = "both"
    source: Source | None = None  # only this source's tasks (an import's name, "seed" or "generated")


class Elimination(Config, kw_only=True):
    """Thresholds of the elimination rules (see the module docstring for where each comes from)."""

    # Rule 1: ROUGE-L F of the evolved prompt (instruction + input) against its parent's, above which the
    # evolution is a near copy. A parent of n words kept whole plus a added words scores 2n / (2n + a):
    # at 0.9, a 20-word parent needs 5 added words.
    no_gain_rouge_l: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.9
    # Rule 1, in-depth operators: words the evolved prompt must add to its parent's.
    min_added_words: Annotated[int, Meta(ge=0, le=100)] = 3
    # Rule 4: ROUGE-L F against a task of the template's own worked examples above which the evolved task is
    # a copy of it (the near-duplicate threshold). The 135M model wrote the last example back 3 times in 32.
    example_copy_rouge_l: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.7
    # Rule 4, partly copied: this many consecutive words of an example that the parent does not have. It
    # caught "... Explain step by step why it is chosen instead of the largest city." added to a heart-rate task.
    example_copy_ngram: Annotated[int, Meta(ge=3, le=50)] = 6
    # Rule 2: a refusal marker in an answer shorter than this many words (the paper's 80).
    refusal_max_words: Annotated[int, Meta(ge=0, le=1000)] = 80
    # A non-classification task of at least `long_task_words` words whose answer has fewer than
    # `min_answer_words` words has not been answered.
    long_task_words: Annotated[int, Meta(ge=1, le=1000)] = 20
    min_answer_words: Annotated[int, Meta(ge=0, le=100)] = 3


def _even_weights() -> dict[Operator, float]:
    return {operator: 1.0 for operator in get_args(Operator)}  # the paper draws an operator uniformly


class EvolConfig(Config, kw_only=True):
    """Evol-Instruct (`generators.evol`): which operators rewrite which parents, and the elimination rules."""

    # Operators allowed, with their relative weights; an operator left out (or at 0) is never drawn.
    operators: dict[Operator, Annotated[float, Meta(ge=0, le=1000)]] = msgspec.field(default_factory=_even_weights)
    parents_per_round: Annotated[int, Meta(ge=1, le=512)] = 16
    answer_max_tokens: Annotated[int, Meta(ge=16, le=4096)] = 256
    # How many times one lineage may evolve: a parent at this depth is no longer picked (the paper ran 4).
    max_depth: Annotated[int, Meta(ge=1, le=16)] = 4
    max_rounds_without_accept: Annotated[int, Meta(ge=1, le=1000)] = 10
    elimination: Elimination = Elimination()

    def __post_init__(self) -> None:
        if not any(weight > 0 for weight in self.operators.values()):
            raise ValueError("operators: at least one operator needs a weight above 0")


class ConsistencyConfig(Config, kw_only=True):
    """Self-consistency (`generators.consistency`). Off by default: `samples - 1` extra completions per comparable
    answer (a label, a number, a short extraction); free text is never compared."""

    enabled: bool = False
    samples: Annotated[int, Meta(ge=2, le=16)] = 5  # k, the original answer included
    # 0.6 of 5 = the original plus two samples agree: below that the model does not know the answer.
    min_agreement: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.6
    # Fewer answers that could be right than this, and agreement among them means nothing ("fact" once, four
    # answers off the list): the instance fails. 3 of 5 kept the most right labels per wrong one on the bench.
    min_votes: Annotated[int, Meta(ge=1, le=16)] = 3
    short_max_words: Annotated[int, Meta(ge=1, le=30)] = 5  # longer non-numeric answers are free text
    temperature: Annotated[float, Meta(gt=0.0, le=2.0)] = 0.7  # samples must vary for agreement to mean anything
    max_tokens: Annotated[int, Meta(ge=8, le=1024)] = 96

    def __post_init__(self) -> None:
        if self.min_votes > self.samples:
            raise ValueError(f"min_votes ({self.min_votes}) cannot exceed samples ({self.samples})")


class CategoryConfig(Config, kw_only=True):
    """How generated tasks are labelled (`generators.categories`)."""

    # 0.5: label a task only when the label is likelier right than wrong; a wrong label misleads the balance
    # report and the quota as much as a right one informs them.
    min_label_confidence: Annotated[float, Meta(ge=0.0, le=1.0)] = 0.5


# http(s) only, with a host: the service POSTs to it (case-insensitive scheme, no whitespace anywhere).
WEBHOOK_URL_PATTERN = r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#@]*@?[^\s/?#@]+(?:[/?#]\S*)?$"


class Webhook(Config, kw_only=True):
    """Where a job's status changes are POSTed (`service.webhooks`), signed with HMAC-SHA256 under `secret`.

    The secret is kept with the job (it signs every delivery) and never shown: answers replace it.
    """

    url: Annotated[str, Meta(min_length=8, max_length=2048, pattern=WEBHOOK_URL_PATTERN)]
    secret: Annotated[str, Meta(min_length=1, max_length=256)]

    def __post_init__(self) -> None:
        if self.url != self.url.strip():  # the pattern's `$` lets one trailing newline through
            raise ValueError("webhook.url must not end with whitespace")


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
    # evol jobs (a factory: the operator weights are a dict, and litestar hashes plain defaults)
    evol: EvolConfig = msgspec.field(default_factory=EvolConfig)
    judge: JudgeConfig = JudgeConfig()
    consistency: ConsistencyConfig = ConsistencyConfig()  # self_instruct and annotate jobs
    annotate: AnnotateConfig = AnnotateConfig()  # annotate jobs (their `target`: answers written)
    categories: CategoryConfig = CategoryConfig()
    quality: QualityRules = QualityRules()  # model-free checks of instructions and answers (generators.quality_checks)
    model: Annotated[str, Meta(min_length=1, max_length=256)] | None = None  # remote: the model to ask for
    # remote engines: a subset of the configured endpoints
    endpoints: Endpoints | None = None
    # self_instruct: target shares per category (normalised); prompts favour the categories that lag
    category_targets: Annotated[dict[CategoryName, Share], Meta(max_length=256)] | None = None
    webhook: Webhook | None = None  # POSTed each status change: running, then the end
    # The job's share of the endpoints while other jobs run: a free slot goes to the job with the fewest
    # requests in flight per unit of weight (`generators.fleet`); 2 gets twice the requests of 1.
    weight: Annotated[int, Meta(ge=1, le=100)] = 1


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
