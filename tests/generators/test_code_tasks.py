"""One code round over a scripted engine and the real sandbox (the test is about the round, not the model)."""

from __future__ import annotations

import random

import anyio

from domain.job_spec import CodeConfig, InstructionRules, Sampling
from domain.records import CodeExample
from domain.screening import DuplicateScreen
from generators.code_tasks import CodePool, prompt_examples, run_code_round, screen_code_candidates
from generators.engine import Completion
from generators.sandbox import Sandbox, SandboxLimits
from store.dedup.near_duplicates import NearDuplicateIndex

SEED = CodeExample(
    instruction="Write a Python function `add(a, b)` that returns the sum of two numbers.",
    entry_point="add",
    solution="def add(a, b):\n    return a + b",
    tests=("assert add(1, 2) == 3", "assert add(-1, 1) == 0"),
)


def block(instruction: str, name: str, body: str, tests: list[str]) -> str:
    return (
        f" {instruction}\nFunction: {name}\nSolution:\n```python\ndef {name}(x):\n    {body}\n```\nTests:\n"
        + "\n".join(tests)
    )


ANSWERS = [
    block("Return the square of an integer with `square(x)`.", "square", "return x * x",
          ["assert square(3) == 9", "assert square(-2) == 4"]),
    block("Compute the cube of a number with `cube(x)` please.", "cube", "return x * x",
          ["assert cube(2) == 8", "assert cube(1) == 1"]),
    block("Loop forever inside `spin(x)` and never come back.", "spin", "while True: pass",
          ["assert spin(1) == 1", "assert spin(2) == 2"]),
    block("Return the square of an integer with `square(x)`.", "square", "return x * x",
          ["assert square(3) == 9", "assert square(4) == 16"]),
    block("Give back the negation of `neg(x)` as a number.", "neg", "return -x", ["assert neg(1) == -1"]),
    " Just some words without any code at all here.",
    block("Return the absolute value of a number with `absolute(x)`.", "absolute", "return abs(x)",
          ["assert absolute(0) == 0", "assert absolute(0) >= 0"]),  # passes, but proves little
]  # fmt: skip


class ScriptedEngine:
    model = "scripted"

    async def complete(self, prompts, *, sampling, stop, seed=None):
        assert stop == ["\nTask:"] and all(p.endswith("\nTask:") for p in prompts)
        return [Completion(text=ANSWERS[n % len(ANSWERS)], finish_reason="stop", completion_tokens=9)
                for n in range(len(prompts))]  # fmt: skip

    async def aclose(self) -> None:
        pass


def test_a_round_keeps_exactly_the_candidates_whose_tests_pass() -> None:
    pool = CodePool(seeds=[SEED], generated=[])
    sandbox = Sandbox(SandboxLimits(wall_s=2.0, cpu_s=2), max_parallel=2)
    result = anyio.run(
        lambda: run_code_round(
            ScriptedEngine(), pool, random.Random(0), config=CodeConfig(prompts_per_round=len(ANSWERS)),
            sampling=Sampling(), rules=InstructionRules(), runner=sandbox,
                screen=DuplicateScreen(set(), NearDuplicateIndex(0.7)),
            seed=0, provenance={"job_id": "j"},
        )
    )  # fmt: skip
    assert [t.instruction for t in result.accepted] == ["Return the square of an integer with `square(x)`."]
    task = result.accepted[0]
    assert task.category == "code" and task.code is not None and task.code.status == "passed"
    assert task.code.tests == ("assert square(3) == 9", "assert square(-2) == 4")
    assert task.instances[0].output == "```python\ndef square(x):\n    return x * x\n```"
    assert task.provenance["templates"] == {"code": "code_task.v1", "code_example": "code_example.v1"}
    reasons = {r.reason: (r.instruction, r.detail) for r in result.rejections}
    assert set(reasons) == {"tests_failed", "tests_timeout", "exact_duplicate", "too_few_tests", "code_unparseable",
                            "weak_tests"}  # fmt: skip
    weak = reasons["weak_tests"][1]
    assert weak["code_status"] == "passed" and weak["strength"]["kill_rate"] < 0.5
    assert task.code.strength is not None and task.code.strength.kill_rate >= 0.5
    assert "assert cube(2) == 8" in reasons["tests_failed"][1]["error"]
    assert reasons["tests_failed"][1]["solution"] == "def cube(x):\n    return x * x"
    assert result.stages == {"prompts": 7, "candidates": 7, "passed_filters": 4, "executed": 4,
                             "tests_passed": 2, "accepted": 1}  # fmt: skip
    assert pool.generated == [t for t in pool.generated if t.entry_point == "square"] and len(pool.generated) == 1


def test_prompts_mix_seed_and_generated_examples() -> None:
    other = CodeExample(instruction="x", entry_point="f", solution="def f():\n    pass", tests=("assert f() is None",))
    pool = CodePool(seeds=[SEED] * 5, generated=[other])
    chosen = prompt_examples(pool, random.Random(3), CodeConfig(examples_per_prompt=3, generated_per_prompt=1))
    assert len(chosen) == 3 and chosen.count(other) == 1


def test_a_candidate_whose_tests_compare_with_no_literal_is_left_out() -> None:
    """Bare asserts are judged as True/False, which a run could forge; `== literal` is judged by the parent."""
    bare = block("Tell whether a number is even with `is_even(x)` here.", "is_even", "return x % 2 == 0",
                 ["assert is_even(2)", "assert not is_even(3)"])  # fmt: skip
    literal = block("Tell whether a number is odd with `is_odd(x)` here.", "is_odd", "return x % 2 == 1",
                    ["assert is_odd(3) == True", "assert not is_odd(2)"])  # fmt: skip
    completions = [Completion(text=t, finish_reason="stop", completion_tokens=1) for t in (bare, literal)]
    screen = DuplicateScreen(set(), NearDuplicateIndex(0.7))
    kept, rejections = screen_code_candidates(completions, InstructionRules(), screen, CodeConfig())
    assert [c.entry_point for c in kept] == ["is_odd"]
    assert [(r.reason, r.detail["tests"]) for r in rejections] == [
        ("no_literal_test", ["assert is_even(2)", "assert not is_even(3)"])
    ]
