"""Generation methods as the worker sees them: load a job's pool once, then run rounds.

Loading reads the dataset (in a worker thread); a round is pure generation over the injected engine
(and, for code, the sandbox). The worker commits each round's result.
"""

from __future__ import annotations

import math
import random
from importlib.resources import files
from typing import Any, Protocol

import msgspec

from generators.categories import CategoryModel, mix_report, normalised_targets, pick_focus
from generators.code_prompts import CodeExample
from generators.code_tasks import CodeConfig, CodePool, run_code_round, to_task
from generators.engine import CompletionEngine, Sampling
from generators.filters import InstructionRules
from generators.prompts import Example
from generators.sandbox import Sandbox
from generators.self_instruct import Pool, Rejection, RoundResult, SelfInstructConfig, run_round
from store import Store
from store.code_checks import code_examples
from store.fingerprint import fingerprint
from store.jobs import (
    JobRecord,
    bootstrap_tasks,
    dataset_categories,
    dataset_instructions,
    job_category_counts,
    seed_examples,
)
from store.near_duplicates import NearDuplicateIndex
from store.records import NewTask
from store.semantic import SemanticIndex, TieredIndex
from store.tasks import add_tasks

DuplicateIndex = NearDuplicateIndex | TieredIndex


class JobParams(msgspec.Struct, frozen=True, kw_only=True):
    """What a job was asked for (stored as the job's `params`)."""

    target: int
    seed: int = 0
    sampling: Sampling = Sampling()
    config: SelfInstructConfig = SelfInstructConfig()
    code: CodeConfig = CodeConfig()
    rules: InstructionRules = InstructionRules()
    model: str | None = None
    endpoints: list[str] | None = None
    category_targets: dict[str, float] | None = None  # self_instruct: steer toward these shares


class GenerationMethod(Protocol):
    max_rounds_without_accept: int

    def mix(self) -> dict[str, Any] | None: ...

    def admit(self, result: RoundResult) -> None:
        """Last say on a finished round's tasks, just before its commit (rounds commit one at a time)."""

    def note_committed(self, tasks: list[NewTask]) -> None: ...

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult: ...


class SelfInstructMethod:
    def __init__(
        self, store: Store, job: JobRecord, params: JobParams, index: NearDuplicateIndex | TieredIndex
    ) -> None:
        shown = bootstrap_tasks(store, job.dataset_id)
        self.pool = Pool(
            seeds=[text for text, source, _ in shown if source == "seed"],
            generated=[text for text, source, _ in shown if source == "generated"],
            fingerprints={fingerprint(text) for text, _ in dataset_instructions(store, job.dataset_id)},
            examples=[Example(**e) for e in seed_examples(store, job.dataset_id)],
            seed_categories=[category for _, source, category in shown if source == "seed"],
        )
        self.params, self.index = params, index
        self.max_rounds_without_accept = params.config.max_rounds_without_accept
        self.categories = CategoryModel(dataset_categories(store, job.dataset_id))
        self.targets = normalised_targets(params.category_targets or {})
        self.counts = job_category_counts(store, job.id)

    def _focus(self, rng: random.Random) -> str | None:
        return pick_focus(self.targets, self.counts, rng) if self.targets else None

    def mix(self) -> dict[str, Any] | None:
        return mix_report(self.targets, self.counts) if self.targets else None

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult:
        p = self.params
        return await run_round(
            engine, self.pool, rng, config=p.config, sampling=p.sampling, rules=p.rules, index=self.index,
            seed=seed, provenance=provenance, categorize=self.categories.infer, focus=self._focus,
        )  # fmt: skip

    def admit(self, result: RoundResult) -> None:
        # Here and not in `round`: with rounds in flight together, only the commit order sees current counts.
        if self.targets:
            result.accepted, over = within_quota(result.accepted, self.targets, self.counts, self.params.target)
            result.rejections.extend(over)
            result.stages["accepted"] = len(result.accepted)

    def note_committed(self, tasks: list[NewTask]) -> None:
        for task in tasks:
            self.counts[task.category] = self.counts.get(task.category, 0) + 1


def within_quota(
    tasks: list[NewTask], targets: dict[str, float], counts: dict[str, int], target: int
) -> tuple[list[NewTask], list[Rejection]]:
    """Close the loop on category targets: a category takes at most ceil(share x job target) tasks.

    Steering makes wanted categories likelier; the quota makes the mix converge on the target whatever
    the model writes. A task past its category's quota is kept as a `category_quota_full` rejection.
    """
    taken = dict(counts)
    kept, over = [], []
    for task in tasks:
        if taken.get(task.category, 0) < math.ceil(targets.get(task.category, 0.0) * target):
            kept.append(task)
            taken[task.category] = taken.get(task.category, 0) + 1
        else:
            over.append(("category_quota_full", task.instruction, {"category": task.category}))
    return kept, over


def default_code_seeds() -> list[CodeExample]:
    """The packaged code seed tasks (written for this project)."""
    lines = files("generators").joinpath("seeds", "code_seeds.jsonl").read_bytes().splitlines()
    return [msgspec.json.decode(line, type=CodeExample, strict=False) for line in lines if line.strip()]


def add_default_code_seeds(store: Store, dataset_id: str, sandbox: Sandbox) -> int:
    """Give a dataset without code tasks the packaged code seeds, each proven in the sandbox first."""
    seeds = default_code_seeds()
    outcomes = sandbox.run_many([(s.solution, list(s.tests)) for s in seeds])
    provenance = {"upload": "packaged_code_seeds"}
    proven = [to_task(s, o, provenance) for s, o in zip(seeds, outcomes, strict=True) if o.status == "passed"]
    return add_tasks(store, dataset_id, proven, source="seed", stage="code_seeds").added


class CodeMethod:
    def __init__(
        self, store: Store, job: JobRecord, params: JobParams, index: DuplicateIndex, sandbox: Sandbox
    ) -> None:
        examples = code_examples(store, job.dataset_id)
        if not any(e["source"] == "seed" for e in examples):
            add_default_code_seeds(store, job.dataset_id, sandbox)
            examples = code_examples(store, job.dataset_id)
        fields = ("instruction", "entry_point", "solution", "tests")
        parsed = [(CodeExample(**{k: e[k] for k in fields}), e["source"]) for e in examples]
        self.pool = CodePool(
            seeds=[example for example, source in parsed if source == "seed"],
            generated=[example for example, source in parsed if source == "generated"],
            fingerprints={fingerprint(text) for text, _ in dataset_instructions(store, job.dataset_id)},
        )
        self.params, self.index, self.sandbox = params, index, sandbox
        self.max_rounds_without_accept = params.code.max_rounds_without_accept

    def mix(self) -> dict[str, Any] | None:
        return None

    def admit(self, result: RoundResult) -> None:
        pass

    def note_committed(self, tasks: list[NewTask]) -> None:
        pass

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult:
        p = self.params
        return await run_code_round(
            engine, self.pool, rng, config=p.code, sampling=p.sampling, rules=p.rules,
            index=self.index, runner=self.sandbox, seed=seed, provenance=provenance,
        )  # fmt: skip


def open_method(store: Store, job: JobRecord, params: JobParams, sandbox: Sandbox) -> GenerationMethod:
    """The job's method with its pool loaded (blocking: call from a worker thread)."""
    texts = [text for text, _ in dataset_instructions(store, job.dataset_id)]
    index: DuplicateIndex = NearDuplicateIndex(params.rules.near_duplicate_threshold, texts)
    if params.rules.semantic_threshold is not None:  # off by default: it loads an embedding model
        index = TieredIndex(index, SemanticIndex(params.rules.semantic_threshold, texts))
    if job.method == "code":
        return CodeMethod(store, job, params, index, sandbox)
    return SelfInstructMethod(store, job, params, index)
