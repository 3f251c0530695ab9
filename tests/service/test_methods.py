from __future__ import annotations

import random
from pathlib import Path

from domain.job_spec import JobSpec, SelfInstructConfig
from domain.records import Instance, NewTask, Rejection
from domain.screening import DuplicateScreen
from generators.self_instruct import Pool, bootstrap_examples
from service.labels import LABEL_SEED_LIMIT
from service.methods import EvolMethod, SelfInstructMethod, within_quota
from store import Store
from store.datasets import create_dataset
from store.dedup.near_duplicates import NearDuplicateIndex
from store.jobs import FEW_SHOT_CANDIDATES, create_job
from store.tasks import add_tasks


def task(category: str, n: int) -> NewTask:
    return NewTask(instruction=f"{category} task {n}", instances=(Instance(output="x"),), category=category)


def test_a_category_takes_at_most_its_share_of_the_job_target() -> None:
    tasks = [task("math", 1), task("writing", 1), task("math", 2), task("math", 3), task("code", 1)]
    kept, over = within_quota(tasks, {"math": 0.5, "writing": 0.5}, {"math": 1}, target=5)
    assert [t.instruction for t in kept] == ["math task 1", "writing task 1", "math task 2"]  # ceil(2.5) = 3 math
    assert over == [
        Rejection(reason="category_quota_full", instruction="math task 3", detail={"category": "math"}),
        # not among the targets: no quota
        Rejection(reason="category_quota_full", instruction="code task 1", detail={"category": "code"}),
    ]


def test_a_steered_prompt_shows_only_seeds_of_its_focus() -> None:
    pool = Pool(
        seeds=[f"math {n}" for n in range(10)] + [f"poem {n}" for n in range(10)],
        seed_categories=["math"] * 10 + ["writing"] * 10,
        generated=["generated 1", "generated 2", "generated 3"],
        examples=[],
    )
    config = SelfInstructConfig()
    steered = bootstrap_examples(pool, random.Random(0), config, focus="math")
    assert len(steered) == 8 and all(text.startswith("math") for text in steered)
    plain = bootstrap_examples(pool, random.Random(0), config)
    assert len(plain) == 8 and sum(text.startswith("generated") for text in plain) == 2


def test_a_job_on_more_seeds_than_the_bound_loads_a_sample_drawn_with_its_seed(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "many.duckdb")
    try:
        dataset_id = create_dataset(store, name="many").id
        seeds = [NewTask(instruction=f"Seed task {n}: name {n} {'rivers' if n % 2 else 'poems'}.",
                         instances=(Instance(output="x"),), category="open_qa" if n % 2 else "writing")
                 for n in range(FEW_SHOT_CANDIDATES + 50)]  # fmt: skip
        add_tasks(store, dataset_id, seeds, source="seed", stage="test")

        def pool_of(seed: int) -> SelfInstructMethod:
            job = create_job(store, JobSpec(dataset_id=dataset_id, target=1, seed=seed))
            return SelfInstructMethod(store, job, DuplicateScreen(set(), NearDuplicateIndex()))

        first, again, other = pool_of(7), pool_of(7), pool_of(8)
        evol_job = create_job(store, JobSpec(dataset_id=dataset_id, method="evol", target=1, seed=7))
        evol = EvolMethod(store, evol_job, DuplicateScreen(set(), NearDuplicateIndex()))
    finally:
        store.close()
    assert len(evol.pool.parents) == FEW_SHOT_CANDIDATES and len(evol.label_examples) == LABEL_SEED_LIMIT
    assert len(first.pool.seeds) == len(first.pool.seed_categories) == FEW_SHOT_CANDIDATES
    assert first.pool.seeds == again.pool.seeds and first.pool.seeds != other.pool.seeds
    assert len(first.label_examples) == LABEL_SEED_LIMIT  # the labeller learns from the stats' sample
    assert first.categories.categories == ["open_qa", "writing"]
