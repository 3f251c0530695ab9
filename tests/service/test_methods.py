from __future__ import annotations

import random

from domain.job_spec import SelfInstructConfig
from domain.records import Instance, NewTask, Rejection
from generators.self_instruct import Pool, bootstrap_examples
from service.methods import within_quota


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
