"""The `code` method: the model writes a task, a Python function and assert tests; the sandbox runs them.

A round samples a few worked code tasks (the dataset's code tasks: seeds first, generated ones mixed in,
as self-instruct does), lets the model write one new task per prompt, screens the candidates (parse,
instruction rules, exact and near-duplicates), runs every survivor's tests in the sandbox, and keeps only
tasks whose tests all pass. Each candidate leaves the round accepted or rejected with its reason; a
failed run keeps the solution, the tests and the sandbox's error in the rejection's detail.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Sequence
from typing import Any, Protocol

import msgspec

from domain.job_spec import CodeConfig, InstructionRules, Sampling
from domain.quality import MutationScore
from domain.records import CodeCheck, CodeExample, Instance, NewTask, Rejection
from domain.screening import DuplicateScreen
from generators.code_prompts import CODE_EXAMPLE_TEMPLATE, CODE_TEMPLATE, FENCE, parse_code_task, render_code_prompt
from generators.code_verification import measure_strength
from generators.engine import Completion, CompletionEngine
from generators.filters import instruction_rejection
from generators.rounds import RoundResult
from generators.sandbox.checks import InvalidTestError, parse_check

CODE_CATEGORY = "code"
# The sandbox's statuses, as rejection reasons of the candidates that did not pass.
_FAILED_RUN = {"failed": "tests_failed", "timeout": "tests_timeout", "crashed": "tests_crashed"}


class ExecutionOutcome(Protocol):
    status: str
    tests_passed: int
    tests_total: int
    duration_s: float
    error: str | None


class TestRunner(Protocol):
    """The sandbox as the method sees it (`generators.sandbox.Sandbox`): one run, or many (mutants) at once."""

    async def run(self, solution: str, tests: list[str]) -> ExecutionOutcome: ...

    def run_many(self, jobs: Sequence[tuple[str, Sequence[str]]]) -> Sequence[ExecutionOutcome]: ...


class CodePool(msgspec.Struct, kw_only=True):
    seeds: list[CodeExample]
    generated: list[CodeExample]


def prompt_examples(pool: CodePool, rng: random.Random, config: CodeConfig) -> list[CodeExample]:
    generated = rng.sample(pool.generated, min(config.generated_per_prompt, len(pool.generated)))
    wanted = config.examples_per_prompt - len(generated)
    chosen = rng.sample(pool.seeds, min(wanted, len(pool.seeds))) + generated
    rng.shuffle(chosen)
    return chosen


def _parse_one(
    completion: Completion, rules: InstructionRules, config: CodeConfig
) -> tuple[CodeExample | None, Rejection | None]:
    if completion.finish_reason == "error":
        return None, Rejection(reason="engine_error", instruction="", detail={"error": completion.error})
    text = completion.text
    if completion.truncated:  # the last line may be cut in the middle: drop it
        text = text.rsplit("\n", 1)[0]
    candidate, reason = parse_code_task(text, max_tests=config.max_tests)
    if candidate is None:
        first_line = text.split("\n", 1)[0].strip()
        return None, Rejection(
            reason=reason or "code_unparseable", instruction=first_line, detail={"completion": text[:2000]}
        )
    # Code tasks ask for programs by nature: the self-instruct "write a program" rule does not apply.
    reason = instruction_rejection(candidate.instruction.replace("Write a program", "Write code"), rules)
    if reason is not None:
        return None, Rejection(reason=reason, instruction=candidate.instruction)
    if len(candidate.tests) < config.min_tests:
        return None, Rejection(reason="too_few_tests", instruction=candidate.instruction,
                               detail={"tests": list(candidate.tests)})  # fmt: skip
    if not any(_literal_test(test) for test in candidate.tests):
        return None, Rejection(reason="no_literal_test", instruction=candidate.instruction,
                               detail={"tests": list(candidate.tests)})  # fmt: skip
    return candidate, None


def _literal_test(test: str) -> bool:
    """`assert expr == <literal>`: the one kind of test the sandbox's parent judges from the value sent back,
    where the solution cannot reach. A list of bare asserts only could be forged from inside the run."""
    try:
        return parse_check(test).kind == "value"
    except InvalidTestError:
        return False


def screen_code_candidates(
    completions: list[Completion], rules: InstructionRules, screen: DuplicateScreen, config: CodeConfig
) -> tuple[list[CodeExample], list[Rejection]]:
    """Parse and filter, greedy in arrival order; survivors join the dedup state at once."""
    kept: list[CodeExample] = []
    rejections: list[Rejection] = []
    for completion in completions:
        candidate, rejection = _parse_one(completion, rules, config)
        if candidate is None:
            rejections.append(rejection)
        elif duplicate := screen.admit(candidate.instruction):
            rejections.append(Rejection(reason=duplicate.reason, instruction=candidate.instruction,
                                        detail=duplicate.detail()))  # fmt: skip
        else:
            kept.append(candidate)
    return kept, rejections


def code_answer(solution: str) -> str:
    """The stored output: the solution in a fenced block, as chat models answer."""
    return f"{FENCE}python\n{solution.strip()}\n{FENCE}"


def to_task(
    candidate: CodeExample, outcome: ExecutionOutcome, provenance: dict[str, Any], strength: MutationScore | None = None
) -> NewTask:
    check = CodeCheck(
        entry_point=candidate.entry_point,
        solution=candidate.solution,
        tests=candidate.tests,
        status=outcome.status,
        tests_passed=outcome.tests_passed,
        tests_total=outcome.tests_total,
        duration_s=round(outcome.duration_s, 4),
        error=outcome.error,
        strength=strength,
    )
    return NewTask(
        instruction=candidate.instruction,
        instances=(Instance(input="", output=code_answer(candidate.solution)),),
        category=CODE_CATEGORY,
        provenance=provenance,
        code=check,
    )


async def _strengths(
    runner: TestRunner, passing: list[tuple[CodeExample, ExecutionOutcome]], config: CodeConfig
) -> list[MutationScore | None]:
    if not config.max_mutants:
        return [None] * len(passing)
    return list(await asyncio.gather(*(measure_strength(runner, c, o, config.max_mutants) for c, o in passing)))


def _too_weak(score: MutationScore | None, minimum: float | None) -> bool:
    """Below the minimum, or unmeasurable while a minimum is asked for (weak until shown otherwise)."""
    return minimum is not None and (score is None or score.kill_rate is None or score.kill_rate < minimum)


def _weak(task: NewTask) -> Rejection:
    """A passing task whose tests prove too little; its proof is kept, so the pass rate still counts it."""
    check = task.code
    assert check is not None  # a passing code task carries its proof
    detail = {"code_status": check.status, "solution": check.solution, "tests": list(check.tests),
              "strength": msgspec.to_builtins(check.strength)}  # fmt: skip
    return Rejection(reason="weak_tests", instruction=task.instruction, detail=detail)


def _failure(candidate: CodeExample, outcome: ExecutionOutcome) -> Rejection:
    detail = {"solution": candidate.solution, "tests": list(candidate.tests), "error": outcome.error,
              "tests_passed": outcome.tests_passed, "tests_total": outcome.tests_total,
              "duration_s": round(outcome.duration_s, 4)}  # fmt: skip
    return Rejection(
        reason=_FAILED_RUN.get(outcome.status, "tests_crashed"), instruction=candidate.instruction, detail=detail
    )


async def run_code_round(
    engine: CompletionEngine,
    pool: CodePool,
    rng: random.Random,
    *,
    config: CodeConfig,
    sampling: Sampling,
    rules: InstructionRules,
    screen: DuplicateScreen,
    runner: TestRunner,
    seed: int,
    provenance: dict[str, Any],
) -> RoundResult:
    prompts = [render_code_prompt(prompt_examples(pool, rng, config)) for _ in range(config.prompts_per_round)]
    code_sampling = msgspec.structs.replace(sampling, max_tokens=config.max_tokens)
    written = await engine.complete(prompts, sampling=code_sampling, stop=["\nTask:"], seed=seed)
    kept, rejections = screen_code_candidates(written, rules, screen, config)
    outcomes = await asyncio.gather(*(runner.run(c.solution, list(c.tests)) for c in kept))
    passing = [(c, o) for c, o in zip(kept, outcomes, strict=True) if o.status == "passed"]
    rejections += [_failure(c, o) for c, o in zip(kept, outcomes, strict=True) if o.status != "passed"]
    scores = await _strengths(runner, passing, config)
    meta = {**provenance, "templates": {"code": CODE_TEMPLATE, "code_example": CODE_EXAMPLE_TEMPLATE}}
    accepted: list[NewTask] = []
    for (candidate, outcome), score in zip(passing, scores, strict=True):
        task = to_task(candidate, outcome, meta, score)
        if _too_weak(score, config.min_kill_rate):
            rejections.append(_weak(task))
            continue
        accepted.append(task)
        pool.generated.append(candidate)
    executed = (*_FAILED_RUN.values(), "weak_tests")
    candidates = len(kept) + sum(1 for r in rejections if r.reason not in ("engine_error", *executed))
    stages = {"prompts": len(prompts), "candidates": candidates, "passed_filters": len(kept),
              "executed": len(kept), "tests_passed": len(passing), "accepted": len(accepted)}  # fmt: skip
    tokens = sum(c.completion_tokens for c in written)
    return RoundResult(accepted=tuple(accepted), rejections=tuple(rejections), stages=stages, tokens=tokens)
