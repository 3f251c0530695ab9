"""How much a code task's tests prove: run them on the solution, then on its mutants, in the sandbox.

    verification = verify(sandbox, solution, tests, entry_point)
    verification.kill_rate        # killed / mutants; None when nothing could be measured (kill_rate_note says why)
    verification.survivors        # the changes no test noticed

The original solution runs once against all its tests; when it does not pass, each test runs alone as
well, so that every test gets its own verdict and message (a run reports only its first failure). Only a
passing original is worth mutating: its mutants (`generators.mutation`) each run against the full test
list, in parallel through `run_many` (sharing the sandbox's `max_parallel` with everything else it runs).
A mutant is killed when the run does not pass: a test fails or raises, it times out, or it crashes. Each
mutant run is bounded by the sandbox's own limits, so one that loops forever costs at most its wall clock
(`SandboxLimits.wall_s`). The result is a frozen Struct, ready to be stored with a task's proof.
"""

from __future__ import annotations

import ast
import functools
import time
from collections.abc import Sequence
from typing import Literal, Protocol, cast

import anyio
import msgspec

from domain.job_spec import MAX_MUTANTS
from domain.quality import MutationScore
from domain.records import CodeExample
from generators.mutation import MUTATION_VERSION, Mutant, MutationOperator, SolutionError, make_mutants
from generators.weak_tests import WeakReason, weak_test_reasons

RunStatus = Literal["passed", "failed", "timeout", "crashed"]
NO_MUTANTS = "no mutant could be made: the code the entry point reaches has nothing the operators change"
ORIGINAL_FAILS = "not measured: the solution does not pass its own tests"
NOT_ASKED = "not measured: no mutants were asked for (max_mutants=0)"


class RunOutcome(Protocol):
    status: str
    error: str | None


class BatchRunner(Protocol):
    """The sandbox as verification sees it (`generators.sandbox.Sandbox`)."""

    def run_many(self, jobs: Sequence[tuple[str, Sequence[str]]]) -> Sequence[RunOutcome]: ...


class TestVerdict(msgspec.Struct, frozen=True, kw_only=True):
    __test__ = False  # a result type, not a pytest class

    test: str
    passed: bool
    message: str | None  # the sandbox's error when it failed
    weak: WeakReason | None  # why it cannot fail, when it cannot (`generators.weak_tests`)


class SurvivingMutant(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    operator: MutationOperator
    line: int
    description: str
    changed_line: str


class CodeVerification(msgspec.Struct, frozen=True, kw_only=True):
    status: RunStatus  # the original solution against all its tests
    tests_passed: int
    tests_total: int
    tests: tuple[TestVerdict, ...]
    weak_tests: int
    mutants: int  # made and run
    killed: int
    killed_by: dict[str, int]  # run status of the killed mutants: failed, timeout, crashed
    kill_rate: float | None
    kill_rate_note: str | None  # why kill_rate is None
    survivors: tuple[SurvivingMutant, ...]
    mutation_version: str
    duration_s: float


class VerificationInputError(ValueError):
    """Input that cannot be verified; `code` is stable (solution_unparseable, entry_point_missing,
    tests_unparseable) and `errors` lists the tests at fault."""

    def __init__(self, code: str, detail: str, errors: list[dict[str, object]] | None = None) -> None:
        super().__init__(detail)
        self.code, self.detail, self.errors = code, detail, errors or []


def verify(
    runner: BatchRunner,
    solution: str,
    tests: Sequence[str],
    entry_point: str,
    *,
    max_mutants: int = MAX_MUTANTS,
    original: RunOutcome | None = None,
) -> CodeVerification:
    """Blocking (from the event loop: in a worker thread). Raises VerificationInputError before running
    anything when the solution or a test does not parse, or the entry point is not defined. `original`:
    the run of this solution against these tests that the caller already has (the code method's proof),
    so that it is not run again."""
    started = time.perf_counter()
    tests = list(tests)
    _check_tests(tests)
    try:
        mutants = make_mutants(solution, entry_point, limit=max_mutants) if max_mutants else []
    except SolutionError as exc:
        raise VerificationInputError(exc.code, str(exc)) from None
    weak = weak_test_reasons(tests, entry_point)
    if original is None:
        [original] = runner.run_many([(solution, tests)])
    verdicts = _verdicts(runner, solution, tests, original, weak)
    outcomes = runner.run_many([(m.source, tests) for m in mutants]) if original.status == "passed" else []
    killed_by, survivors = _score(mutants, outcomes)
    killed = sum(killed_by.values())
    note = _note(original.status, len(mutants), max_mutants)
    return CodeVerification(
        status=_status(original.status),
        tests_passed=sum(v.passed for v in verdicts),
        tests_total=len(tests),
        tests=tuple(verdicts),
        weak_tests=sum(reason is not None for reason in weak),
        mutants=len(outcomes),
        killed=killed,
        killed_by=killed_by,
        kill_rate=None if note else round(killed / len(outcomes), 4),
        kill_rate_note=note,
        survivors=survivors,
        mutation_version=MUTATION_VERSION,
        duration_s=round(time.perf_counter() - started, 4),
    )


def _score(
    mutants: Sequence[Mutant], outcomes: Sequence[RunOutcome]
) -> tuple[dict[str, int], tuple[SurvivingMutant, ...]]:
    """Killed mutants counted by how their run ended; a mutant whose run passed survives."""
    killed_by: dict[str, int] = {}
    survivors = []
    for mutant, outcome in zip(mutants, outcomes, strict=False):
        if outcome.status == "passed":
            survivors.append(_survivor(mutant))
        else:
            killed_by[outcome.status] = killed_by.get(outcome.status, 0) + 1
    return killed_by, tuple(survivors)


def _survivor(mutant: Mutant) -> SurvivingMutant:
    return SurvivingMutant(
        id=mutant.id,
        operator=mutant.operator,
        line=mutant.line,
        description=mutant.description,
        changed_line=mutant.changed_line,
    )


def _check_tests(tests: list[str]) -> None:
    if not tests:
        raise VerificationInputError("tests_unparseable", "there are no tests to verify with")
    errors: list[dict[str, object]] = []
    for index, test in enumerate(tests):
        try:
            ast.parse(test)
        except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
            errors.append({"test": index, "reason": f"does not parse: {exc}"})
    if errors:
        raise VerificationInputError("tests_unparseable", f"{len(errors)} test(s) do not parse", errors)


def _verdicts(
    runner: BatchRunner, solution: str, tests: list[str], original: RunOutcome, weak: list[WeakReason | None]
) -> list[TestVerdict]:
    if original.status == "passed":
        outcomes: Sequence[RunOutcome | None] = [None] * len(tests)
    else:  # the run names its first failure only: each test alone tells which others fail, and why
        outcomes = runner.run_many([(solution, [test]) for test in tests])
    verdicts = []
    for test, outcome, reason in zip(tests, outcomes, weak, strict=True):
        failed = outcome is not None and outcome.status != "passed"
        verdicts.append(
            TestVerdict(test=test, passed=not failed, message=outcome.error if failed else None, weak=reason)
        )
    return verdicts


def _note(original: str, mutants: int, asked: int) -> str | None:
    if original != "passed":
        return ORIGINAL_FAILS
    if not asked:
        return NOT_ASKED
    return NO_MUTANTS if not mutants else None


def _status(status: str) -> RunStatus:
    return cast(RunStatus, status) if status in ("passed", "failed", "timeout", "crashed") else "crashed"


def mutation_score(verification: CodeVerification) -> MutationScore:
    """What a stored proof keeps of a verification: the kill rate, and short lines naming what survived."""
    return MutationScore(
        kill_rate=verification.kill_rate,
        mutants=verification.mutants,
        killed=verification.killed,
        surviving=tuple(f"{m.id} {m.operator} line {m.line}: {m.changed_line}"[:300] for m in verification.survivors),
        weak_tests=tuple(v.test for v in verification.tests if v.weak is not None),
    )


async def measure_strength(
    runner: BatchRunner, candidate: CodeExample, original: RunOutcome, max_mutants: int
) -> MutationScore:
    """The mutation score of a passing candidate's tests (its passing run is reused), off the event loop.

    A solution the mutator cannot take apart (too deep) scores None: unmeasured, never an error of the job.
    """
    verify_candidate = functools.partial(verify, runner, candidate.solution, list(candidate.tests),
                                         candidate.entry_point, max_mutants=max_mutants, original=original)  # fmt: skip
    try:
        return mutation_score(await anyio.to_thread.run_sync(verify_candidate))
    except VerificationInputError as exc:
        return MutationScore(kill_rate=None, mutants=0, killed=0, surviving=(f"not measured: {exc}"[:300],))
