"""Generation methods as the worker sees them: load a job's pool once, then run rounds.

Loading reads the dataset (in a worker thread); a round is pure generation over the injected engine
(and, for code, the sandbox). The worker commits each round's result.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable
from functools import partial
from importlib.resources import files
from typing import Any, Protocol

import anyio
import msgspec

from domain.records import DEFAULT_CATEGORY, CodeExample, NewTask, Rejection
from domain.screening import DuplicateScreen
from generators.annotate import AnnotateSettings, annotate_round
from generators.categories import CategoryModel, mix_report, normalised_targets, pick_focus
from generators.code_tasks import CodePool, run_code_round, to_task
from generators.engine import CompletionEngine
from generators.evol import EvolPool, Parent, run_evol_round
from generators.judge import JUDGE_TEMPLATE, JudgeItem, judge_instances
from generators.rounds import RoundResult
from generators.sandbox import Sandbox
from generators.self_instruct import Pool, run_round
from service.labels import labeller_seeds
from store import Store
from store.annotations import answered_examples, tasks_to_annotate
from store.code_checks import code_examples
from store.dedup.screen import open_screen
from store.dedup.shared_screen import ScreenCache
from store.jobs import (
    JobRecord,
    bootstrap_tasks,
    evol_parents,
    job_category_counts,
    seed_examples,
)
from store.quality import tasks_to_judge
from store.tasks import add_tasks


def _no_catch_up() -> None:
    """A job's own screen (semantic tier on) is complete from its start, as before shared screens."""


class GenerationMethod(Protocol):
    max_rounds_without_accept: int
    exhausted: bool  # nothing is left to do (a judge job has read every task): the job has succeeded
    label_examples: list[tuple[str, str]]  # (instruction, category) of labelled seeds, for a labelling judge

    def mix(self) -> dict[str, Any] | None: ...

    def admit(self, result: RoundResult) -> RoundResult:
        """Last say on a finished round's tasks, just before its commit (rounds commit one at a time)."""

    def note_committed(self, tasks: list[NewTask]) -> None: ...

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult: ...


class _Plain:
    """What a method without category targets does at commit time: nothing."""

    exhausted = False
    label_examples: list[tuple[str, str]] = []

    def mix(self) -> dict[str, Any] | None:
        return None

    def admit(self, result: RoundResult) -> RoundResult:
        return result

    def note_committed(self, tasks: list[NewTask]) -> None:
        pass


class SelfInstructMethod:
    def __init__(
        self, store: Store, job: JobRecord, screen: DuplicateScreen, catch_up: Callable[[], object] = _no_catch_up
    ) -> None:
        self.catch_up = catch_up
        shown = bootstrap_tasks(store, job.dataset_id, seed=job.spec.seed)
        self.pool = Pool(
            seeds=[text for text, source, _ in shown if source == "seed"],
            generated=[text for text, source, _ in shown if source == "generated"],
            examples=seed_examples(store, job.dataset_id),
            seed_categories=[category for _, source, category in shown if source == "seed"],
        )
        self.spec, self.screen = job.spec, screen
        self.max_rounds_without_accept = job.spec.config.max_rounds_without_accept
        self.label_examples = labeller_seeds(store, job.dataset_id)
        self.categories = CategoryModel(self.label_examples, config=job.spec.categories)
        self.exhausted = False
        self.targets = normalised_targets(job.spec.category_targets or {})
        self.counts = job_category_counts(store, job.id)

    def _focus(self, rng: random.Random) -> str | None:
        return pick_focus(self.targets, self.counts, rng) if self.targets else None

    def mix(self) -> dict[str, Any] | None:
        return mix_report(self.targets, self.counts) if self.targets else None

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult:
        await anyio.to_thread.run_sync(self.catch_up)  # tasks committed since: by uploads, or other rounds
        s = self.spec
        return await run_round(
            engine, self.pool, rng, config=s.config, sampling=s.sampling, rules=s.rules, screen=self.screen,
            seed=seed, provenance=provenance, categorize=self.categories.infer, focus=self._focus, quality=s.quality,
            consistency=s.consistency,
        )  # fmt: skip

    def admit(self, result: RoundResult) -> RoundResult:
        # Here and not in `round`: with rounds in flight together, only the commit order sees current counts.
        if not self.targets:
            return result
        kept, over = within_quota(list(result.accepted), self.targets, self.counts, self.spec.target)
        return result.keep_only(kept, over)

    def note_committed(self, tasks: list[NewTask]) -> None:
        for task in tasks:
            self.counts[task.category] = self.counts.get(task.category, 0) + 1


def within_quota(
    tasks: list[NewTask], targets: dict[str, float], counts: dict[str, int], target: int
) -> tuple[list[NewTask], list[Rejection]]:
    """Close the loop on category targets: a category takes at most ceil(share x job target) tasks.

    Steering makes wanted categories likelier; the quota makes the mix converge on the target whatever
    the model writes. A task past its category's quota is kept as a `category_quota_full` rejection, and one the
    labeller left `uncategorized` as `category_unknown`.
    """
    taken = dict(counts)
    kept, over = [], []
    for task in tasks:
        if task.category == DEFAULT_CATEGORY:  # the labeller was not sure: it cannot count toward a target mix
            over.append(Rejection(reason="category_unknown", instruction=task.instruction,
                                  detail={"confidence": task.category_confidence}))  # fmt: skip
        elif taken.get(task.category, 0) < math.ceil(targets.get(task.category, 0.0) * target):
            kept.append(task)
            taken[task.category] = taken.get(task.category, 0) + 1
        else:
            over.append(Rejection(reason="category_quota_full", instruction=task.instruction,
                                  detail={"category": task.category}))  # fmt: skip
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


class CodeMethod(_Plain):
    def __init__(
        self,
        store: Store,
        job: JobRecord,
        screen: DuplicateScreen,
        sandbox: Sandbox,
        catch_up: Callable[[], object] = _no_catch_up,
    ) -> None:
        self.catch_up = catch_up
        examples = code_examples(store, job.dataset_id)
        if not any(e.source == "seed" for e in examples):
            add_default_code_seeds(store, job.dataset_id, sandbox)
            examples = code_examples(store, job.dataset_id)
            for e in examples:  # the seeds just added are kept instructions: later candidates must differ
                screen.remember(e.example.instruction)
        self.pool = CodePool(
            seeds=[e.example for e in examples if e.source == "seed"],
            generated=[e.example for e in examples if e.source == "generated"],
        )
        self.spec, self.screen, self.sandbox = job.spec, screen, sandbox
        self.max_rounds_without_accept = job.spec.code.max_rounds_without_accept

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult:
        await anyio.to_thread.run_sync(self.catch_up)
        s = self.spec
        return await run_code_round(
            engine, self.pool, rng, config=s.code, sampling=s.sampling, rules=s.rules,
            screen=self.screen, runner=self.sandbox, seed=seed, provenance=provenance,
        )  # fmt: skip


class EvolMethod(_Plain):
    """Evol-Instruct: each round rewrites parents drawn from the dataset (seeds and earlier evolutions)."""

    def __init__(
        self, store: Store, job: JobRecord, screen: DuplicateScreen, catch_up: Callable[[], object] = _no_catch_up
    ) -> None:
        parents = [
            Parent(task_id=task_id, instruction=e.instruction, input=e.input, depth=depth,
                   is_classification=e.is_classification, category=category)
            for task_id, e, category, depth in evol_parents(store, job.dataset_id, seed=job.spec.seed)
        ]  # fmt: skip
        self.pool = EvolPool(parents=parents, examples=seed_examples(store, job.dataset_id))
        self.spec, self.screen, self.catch_up = job.spec, screen, catch_up
        self.max_rounds_without_accept = job.spec.evol.max_rounds_without_accept
        self.label_examples = labeller_seeds(store, job.dataset_id)

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult:
        await anyio.to_thread.run_sync(self.catch_up)  # tasks committed since: by uploads, or other rounds
        s = self.spec
        return await run_evol_round(
            engine, self.pool, rng, config=s.evol, sampling=s.sampling, rules=s.rules, screen=self.screen,
            seed=seed, provenance=provenance, quality=s.quality,
        )  # fmt: skip


class JudgeMethod(_Plain):
    """A `judge` job: each round scores the next stored tasks this judge and rubric have not read yet."""

    def __init__(self, store: Store, job: JobRecord) -> None:
        self.store, self.job = store, job
        self.max_rounds_without_accept = job.spec.config.max_rounds_without_accept
        self.after = 0  # the last task id handed to a round: rounds in flight never read the same tasks
        self.claim = anyio.Lock()

    async def round(
        self, engine: CompletionEngine, rng: random.Random, seed: int, provenance: dict[str, Any]
    ) -> RoundResult:
        config = self.job.spec.judge
        async with self.claim:
            batch = await anyio.to_thread.run_sync(functools.partial(
                tasks_to_judge, self.store, self.job.dataset_id, judge_model=engine.model, template=JUDGE_TEMPLATE,
                after=self.after, limit=config.batch,
            ))  # fmt: skip
            self.after = batch[-1][0] if batch else self.after
        self.exhausted = self.exhausted or not batch
        items = [JudgeItem(instruction=e.instruction, input=e.input, output=e.output) for _, e in batch]
        judgements = await judge_instances(engine, items, config, seed)
        stages = {"judged": len(batch), "scored": sum(j.outcome == "scored" for j in judgements)}
        judged = tuple((task_id, j) for (task_id, _), j in zip(batch, judgements, strict=True))
        return RoundResult(accepted=(), rejections=(), stages=stages, tokens=0, judged=judged)


class AnnotateMethod(_Plain):
    """An `annotate` job: each round answers the next stored tasks (by id, each once) that have no answer or one
    that fails the checks (`generators.annotate`); the judge engine judges the answers when the job asks."""

    def __init__(self, store: Store, job: JobRecord) -> None:
        self.store, self.job, s = store, job, job.spec
        self.max_rounds_without_accept = s.config.max_rounds_without_accept
        # Few-shot examples: the dataset's seeds, else its answered tasks (an import-only dataset has no seeds).
        examples = seed_examples(store, job.dataset_id) or answered_examples(store, job.dataset_id)
        self.pool = Pool(seeds=[], generated=[], examples=examples)
        self.settings = AnnotateSettings(config=s.config, sampling=s.sampling, quality=s.quality,
                                         consistency=s.consistency, judge=s.judge)  # fmt: skip
        self.after = 0  # the last task id handed to a round: rounds in flight never answer the same tasks
        self.claim = anyio.Lock()

    async def round(
        self,
        engine: CompletionEngine,
        rng: random.Random,
        seed: int,
        provenance: dict[str, Any],
        judge: CompletionEngine | None = None,
    ) -> RoundResult:
        config = self.job.spec.annotate
        async with self.claim:
            batch = await anyio.to_thread.run_sync(functools.partial(
                tasks_to_annotate, self.store, self.job.dataset_id, targets=config.targets, source=config.source,
                after=self.after, limit=config.batch,
            ))  # fmt: skip
            self.after = batch[-1].task_id if batch else self.after
        self.exhausted = self.exhausted or not batch
        return await annotate_round(engine, judge or engine, batch, self.pool, rng, settings=self.settings, seed=seed)


def open_method(store: Store, job: JobRecord, sandbox: Sandbox, screens: ScreenCache | None = None) -> GenerationMethod:
    """The job's method with its pool loaded (blocking: call from a worker thread).

    With `screens` (the service's shared screens), the job screens against the dataset's shared screen,
    caught up before each round, plus its own admitted candidates: no index rebuilt per job, and the job
    sees tasks that uploads commit while it runs (and they see the job's). The semantic tier keeps a
    screen of the job's own, built here.
    """
    if job.method == "judge":
        return JudgeMethod(store, job)
    if job.method == "annotate":
        return AnnotateMethod(store, job)
    rules = job.spec.rules
    catch_up: Callable[[], object] = _no_catch_up
    if screens is not None and rules.semantic_threshold is None:
        screen, shared = screens.view(store, job.dataset_id, rules.near_duplicate_threshold)
        catch_up = partial(shared.refresh, store)
    else:
        screen = open_screen(store, job.dataset_id, rules.near_duplicate_threshold,
                             semantic_threshold=rules.semantic_threshold)  # fmt: skip
    if job.method == "code":
        return CodeMethod(store, job, screen, sandbox, catch_up)
    if job.method == "evol":
        return EvolMethod(store, job, screen, catch_up)
    return SelfInstructMethod(store, job, screen, catch_up)
