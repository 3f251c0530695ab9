"""verify(): the original run, per-test verdicts and the kill rate, on the real sandbox (child processes)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import msgspec
import pytest

from domain.job_spec import CodeConfig
from generators.code_verification import (
    NO_MUTANTS,
    NOT_ASKED,
    ORIGINAL_FAILS,
    CodeVerification,
    SurvivingMutant,
    TestVerdict,
    VerificationInputError,
    verify,
)
from generators.sandbox import ExecutionResult, Sandbox, SandboxLimits

TOTAL = "def total(n):\n    s = 0\n    for i in range(1, n):\n        s += i\n    return s\n"
STRONG = ["assert total(0) == 0", "assert total(1) == 0", "assert total(2) == 1", "assert total(5) == 10"]
# range(1, n) -> range(0, n) only adds 0: no test can tell them apart (an equivalent mutant).
EQUIVALENT = SurvivingMutant(id="m04", operator="off_by_one", line=3, description="range bound `1` -> `0`",
                             changed_line="for i in range(0, n):")  # fmt: skip


@pytest.fixture(scope="module")
def sandbox() -> Iterator[Sandbox]:
    # Far above what these runs need: a stall of this shared machine must not turn them into timeouts.
    with Sandbox(SandboxLimits(wall_s=20.0), max_parallel=2) as box:
        yield box


def test_a_strong_test_set_kills_all_but_the_equivalent_mutant(sandbox: Sandbox) -> None:
    result = verify(sandbox, TOTAL, STRONG, "total")
    assert (result.status, result.tests_passed, result.tests_total, result.weak_tests) == ("passed", 4, 4, 0)
    assert result.tests == tuple(TestVerdict(test=t, passed=True, message=None, weak=None) for t in STRONG)
    assert (result.mutants, result.killed, result.killed_by) == (10, 9, {"failed": 9})
    assert (result.kill_rate, result.kill_rate_note) == (0.9, None)
    assert result.survivors == (EQUIVALENT,)
    assert result.mutation_version == "mutation.v1"


def test_a_weak_test_set_kills_few(sandbox: Sandbox) -> None:
    result = verify(sandbox, TOTAL, ["assert total(0) == 0"], "total")
    assert result.status == "passed"
    # Killed: s = 1, s = -1, return None. Everything else still gives total(0) == 0.
    assert (result.mutants, result.killed, result.kill_rate) == (10, 3, 0.3)
    assert [s.id for s in result.survivors] == ["m03", "m04", "m05", "m06", "m07", "m09", "m10"]


def test_tests_that_cannot_fail_are_flagged_and_kill_nothing(sandbox: Sandbox) -> None:
    result = verify(sandbox, TOTAL, ["assert True", "assert callable(total)"], "total")
    assert [(v.passed, v.weak) for v in result.tests] == [(True, "assert_constant"), (True, "asserts_function_object")]
    assert (result.weak_tests, result.killed, result.kill_rate) == (2, 0, 0.0)
    assert len(result.survivors) == 10


def test_a_failing_original_gets_a_verdict_per_test_and_no_kill_rate(sandbox: Sandbox) -> None:
    tests = ["assert total(3) == 3", "assert total(3) == 4", "assert total", "assert total(1) == 0"]
    result = verify(sandbox, TOTAL, tests, "total")
    assert (result.status, result.tests_passed, result.tests_total) == ("failed", 2, 4)
    assert [(v.passed, v.message, v.weak) for v in result.tests] == [
        (True, None, None),
        (False, "assert total(3) == 4: got 3", None),
        # The sandbox wants plain data from a bare assert: a function object fails it.
        (False, "assert total: got a function, not plain data", "asserts_function_object"),
        (True, None, None),
    ]
    assert (result.mutants, result.kill_rate, result.kill_rate_note, result.survivors) == (0, None, ORIGINAL_FAILS, ())


def test_a_mutant_that_loops_forever_is_killed_by_the_wall_clock() -> None:
    count_down = "def count_down(n):\n    steps = 0\n    while n > 0:\n        n -= 1\n        steps += 1\n"
    count_down += "    return steps\n"
    tests = ["assert count_down(3) == 3", "assert count_down(0) == 0"]
    with Sandbox(SandboxLimits(wall_s=2.0, cpu_s=2), max_parallel=2) as box:
        result = verify(box, count_down, tests, "count_down")
    # `n -= 1` -> `n += 1` and `n -= 1` -> `n -= 0` never end: each costs the 2 s wall clock, no more.
    assert (result.status, result.mutants, result.killed_by, result.survivors) == (
        "passed",
        14,
        {"failed": 12, "timeout": 2},
        (),
    )


def test_no_mutant_means_no_kill_rate(sandbox: Sandbox) -> None:
    result = verify(sandbox, "def noop(x):\n    pass\n", ["assert noop(1) is None"], "noop")
    assert (result.status, result.mutants, result.kill_rate, result.kill_rate_note) == ("passed", 0, None, NO_MUTANTS)


def test_the_result_round_trips_as_json_for_storage(sandbox: Sandbox) -> None:
    result = verify(sandbox, TOTAL, STRONG[:2], "total", max_mutants=3)
    assert msgspec.json.decode(msgspec.json.encode(result), type=CodeVerification) == result


class NeverRun:
    def run_many(self, jobs: Sequence[tuple[str, Sequence[str]]]) -> list[ExecutionResult]:
        raise AssertionError("input errors are found before anything runs")


@pytest.mark.parametrize(
    ("solution", "tests", "code", "errors"),
    [
        ("def f(:\n", ["assert f(1) == 1"], "solution_unparseable", []),
        ("def g(x):\n    return x\n", ["assert f(1) == 1"], "entry_point_missing", []),
        (TOTAL, [], "tests_unparseable", []),
    ],
)
def test_input_errors_are_raised_with_a_stable_code(solution: str, tests: list[str], code: str, errors: list) -> None:
    with pytest.raises(VerificationInputError) as raised:
        verify(NeverRun(), solution, tests, "f")
    assert (raised.value.code, raised.value.errors) == (code, errors)


def test_unparseable_tests_are_listed_by_index() -> None:
    with pytest.raises(VerificationInputError) as raised:
        verify(NeverRun(), TOTAL, ["assert total(1) == 0", "assert total(("], "total")
    assert raised.value.code == "tests_unparseable"
    assert [error["test"] for error in raised.value.errors] == [1]
    assert str(raised.value.errors[0]["reason"]).startswith("does not parse: ")


class Scripted:
    """Answers run_many with scripted statuses, recording the jobs: for the accounting, not the sandbox."""

    def __init__(self, statuses: list[str]) -> None:
        self.statuses = statuses
        self.jobs: list[tuple[str, list[str]]] = []

    def run_many(self, jobs: Sequence[tuple[str, Sequence[str]]]) -> list[ExecutionResult]:
        self.jobs += [(solution, list(tests)) for solution, tests in jobs]
        answers, self.statuses = self.statuses[: len(jobs)], self.statuses[len(jobs) :]
        return [
            ExecutionResult(status=s, tests_passed=0, tests_total=1, duration_s=0.1, error=None, stdout="", stderr="")
            for s in answers
        ]


def test_killed_mutants_are_counted_by_how_their_run_ended_and_a_given_original_is_not_rerun() -> None:
    original = ExecutionResult(
        status="passed", tests_passed=1, tests_total=1, duration_s=0.1, error=None, stdout="", stderr=""
    )
    runner = Scripted(["failed", "timeout", "crashed", "passed"])
    result = verify(runner, TOTAL, ["assert total(3) == 3"], "total", max_mutants=4, original=original)
    assert [tests for _, tests in runner.jobs] == [["assert total(3) == 3"]] * 4  # the mutants only
    assert (result.killed_by, result.killed, result.kill_rate) == ({"failed": 1, "timeout": 1, "crashed": 1}, 3, 0.75)
    assert [s.id for s in result.survivors] == ["m04"]


def test_no_mutants_asked_for_is_said_so() -> None:
    result = verify(Scripted(["passed"]), TOTAL, ["assert total(3) == 3"], "total", max_mutants=0)
    assert (result.status, result.mutants, result.kill_rate, result.kill_rate_note) == ("passed", 0, None, NOT_ASKED)


def test_the_job_setting_is_bounded_and_strict() -> None:
    assert CodeConfig().max_mutants == 30 and CodeConfig().min_kill_rate == 0.5
    assert msgspec.json.decode(b'{"max_mutants": 0}', type=CodeConfig) == CodeConfig(max_mutants=0)
    for body in (b'{"max_mutants": 101}', b'{"max_mutants": -1}', b'{"mutants": 5}', b'{"min_kill_rate": 1.5}'):
        with pytest.raises(msgspec.ValidationError):
            msgspec.json.decode(body, type=CodeConfig)
