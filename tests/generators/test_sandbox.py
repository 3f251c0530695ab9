"""The sandbox on honest code: verdicts, messages, output, parallel runs. Real child processes, no mocks."""

from __future__ import annotations

import asyncio
import os

import pytest

from generators.sandbox import ExecutionResult, Sandbox, SandboxLimits, isolation_report, run_tests

FIB = "def fib(n):\n    return n if n < 2 else fib(n - 1) + fib(n - 2)\n"
FIB_WRONG = "def fib(n):\n    return n if n < 3 else fib(n - 1) + fib(n - 2)\n"


@pytest.fixture(scope="module")
def sandbox() -> Sandbox:
    # Far above what these runs need: a stall of this shared machine must not turn them into timeouts.
    with Sandbox(SandboxLimits(wall_s=20.0), max_parallel=2) as box:
        yield box


def test_a_correct_solution_passes(sandbox: Sandbox) -> None:
    tests = ["assert fib(10) == 55", "assert fib(0) == 0", "assert [fib(i) for i in range(5)] == [0, 1, 1, 2, 3]"]
    result = sandbox.run_blocking(FIB, tests)
    assert (result.status, result.tests_passed, result.tests_total, result.error) == ("passed", 3, 3, None)
    assert result.duration_s > 0


def test_run_tests_is_one_blocking_run() -> None:
    result = run_tests(FIB, ["assert fib(10) == 55"], SandboxLimits(wall_s=20.0))
    assert isinstance(result, ExecutionResult)
    assert result.status == "passed"


def test_a_wrong_solution_fails_with_the_first_failing_assertion(sandbox: Sandbox) -> None:
    result = sandbox.run_blocking(FIB_WRONG, ["assert fib(1) == 1", "assert fib(10) == 55", "assert fib(11) == 89"])
    assert (result.status, result.tests_passed, result.tests_total) == ("failed", 1, 3)
    assert result.error == "assert fib(10) == 55: got 89"


def test_a_literal_on_the_left_is_compared_by_the_parent(sandbox: Sandbox) -> None:
    result = sandbox.run_blocking(FIB_WRONG, ["assert 55 == fib(10)"])
    assert result.error == "assert 55 == fib(10): got 89"


def test_a_syntax_error_crashes(sandbox: Sandbox) -> None:
    result = sandbox.run_blocking("def fib(n):\n    return (n\n", ["assert fib(1) == 1"])
    assert result.status == "crashed"
    assert result.error.startswith("SyntaxError")
    assert result.tests_passed == 0


def test_an_exception_at_import_crashes(sandbox: Sandbox) -> None:
    result = sandbox.run_blocking("import no_such_module_here", ["assert True"])
    assert result.status == "crashed"
    assert result.error.startswith("ModuleNotFoundError")


def test_a_test_that_raises_fails_with_the_exception(sandbox: Sandbox) -> None:
    solution = "def div(a, b):\n    return a // b\n"
    result = sandbox.run_blocking(solution, ["assert div(4, 2) == 2", "assert div(1, 0) == 0"])
    assert (result.status, result.tests_passed) == ("failed", 1)
    assert result.error == "assert div(1, 0) == 0: ZeroDivisionError: integer division or modulo by zero"


def test_a_bare_assert_needs_exactly_true(sandbox: Sandbox) -> None:
    solution = "def is_even(n):\n    return n % 2 == 0\ndef count(n):\n    return n\n"
    assert sandbox.run_blocking(solution, ["assert is_even(4)", "assert not is_even(3)"]).status == "passed"
    result = sandbox.run_blocking(solution, ["assert count(3)"])  # truthy, but not True
    assert (result.status, result.error) == ("failed", "assert count(3): got 3")


def test_is_none_is_checked_exactly(sandbox: Sandbox) -> None:
    solution = "def nothing():\n    return None\ndef zero():\n    return 0\n"
    assert sandbox.run_blocking(solution, ["assert nothing() is None"]).status == "passed"
    assert sandbox.run_blocking(solution, ["assert zero() is None"]).error == "assert zero() is None: got 0"


def test_statement_tests_pass_when_nothing_raises(sandbox: Sandbox) -> None:
    tests = ["values = [fib(i) for i in range(6)]\nassert values[-1] == 5", "assert fib(3) == 2; assert fib(4) == 3"]
    assert sandbox.run_blocking(FIB, tests).status == "passed"
    result = sandbox.run_blocking(FIB, ["x = fib(5)\nassert x == 6, 'five'"])
    assert (result.status, result.error) == ("failed", "x = fib(5)\nassert x == 6, 'five': AssertionError: five")


def test_each_test_gets_its_own_copy_of_the_namespace(sandbox: Sandbox) -> None:
    tests = ["fib = None", "assert fib(10) == 55"]  # rebinding a name in one test does not leak into the next
    assert sandbox.run_blocking(FIB, tests).status == "passed"


def test_plain_data_values_round_trip(sandbox: Sandbox) -> None:
    solution = (
        "def value():\n"
        "    return {'a': [1, 2.5, -3], 'b': (True, None), 'c': {1, 2}, 'd': b'x', 'e': 10**400, 'f': 1e999}\n"
    )
    test = "assert value() == {'a': [1, 2.5, -3], 'b': (True, None), 'c': {1, 2}, 'd': b'x', 'e': %d, 'f': 1e999}"
    assert sandbox.run_blocking(solution, [test % 10**400]).status == "passed"


def test_output_is_captured(sandbox: Sandbox) -> None:
    solution = "import sys\nprint('hello')\nprint('oops', file=sys.stderr)\n"
    solution += "def f():\n    print('in test')\n    return 1\n"
    result = sandbox.run_blocking(solution, ["assert f() == 1"])
    assert (result.status, result.stdout, result.stderr) == ("passed", "hello\nin test\n", "oops\n")


def test_no_tests_and_unparsable_tests_are_failures_without_a_run(sandbox: Sandbox) -> None:
    assert sandbox.run_blocking(FIB, []).status == "failed"
    result = sandbox.run_blocking(FIB, ["assert fib(1) == 1", "assert fib(1) =="])
    assert (result.status, result.tests_total) == ("failed", 2)
    assert result.error.startswith("test 2: test does not parse")


def test_the_standard_library_is_importable(sandbox: Sandbox) -> None:
    solution = "import collections, functools, heapq, itertools, json, math, re\ndef f():\n    return json.dumps([1])\n"
    assert sandbox.run_blocking(solution, ["assert f() == '[1]'"]).status == "passed"


def test_run_many_keeps_the_jobs_order(sandbox: Sandbox) -> None:
    jobs = [(f"print({i})\ndef f():\n    return {i}\n", [f"assert f() == {i if i % 3 else -1}"]) for i in range(8)]
    results = sandbox.run_many(jobs)
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(8)]
    assert [r.status for r in results] == ["failed" if i % 3 == 0 else "passed" for i in range(8)]
    assert results[3].error == "assert f() == -1: got 3"


def test_async_runs_keep_at_most_max_parallel_in_flight_without_blocking_the_loop(sandbox: Sandbox) -> None:
    # Each child prints when it ran by CLOCK_MONOTONIC, which all processes share.
    solution = "import time\nstart = time.monotonic()\ntime.sleep(0.4)\nprint(start, time.monotonic())\n"

    async def scenario() -> tuple[list[ExecutionResult], int]:
        ticks = 0
        runs = asyncio.gather(*(sandbox.run(solution, ["assert True"]) for _ in range(6)))
        while not runs.done():
            await asyncio.sleep(0.01)
            ticks += 1
        return await runs, ticks

    results, ticks = asyncio.run(scenario())
    assert [r.status for r in results] == ["passed"] * 6
    spans = [tuple(map(float, r.stdout.split())) for r in results]
    most_at_once = max(sum(start <= moment < end for start, end in spans) for moment, _ in spans)
    assert most_at_once <= sandbox.max_parallel
    assert ticks >= 20  # the loop kept turning: 3 rounds of 0.4 s ran on worker threads


def test_isolation_report_says_what_applies() -> None:
    report = isolation_report()
    assert os.path.isabs(report.python)
    assert report.per_run_uid == (os.geteuid() == 0)
    if report.namespaces:
        assert "net" in report.namespaces and report.wrapper
    else:
        assert report.notes  # a weaker mode always says what it does not guarantee
