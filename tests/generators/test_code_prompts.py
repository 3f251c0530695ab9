from __future__ import annotations

from domain.records import CodeExample
from generators.code_prompts import parse_code_task, render_code_prompt, render_example

FIB = CodeExample(
    instruction="Write a Python function `fib(n)` that returns the n-th Fibonacci number.",
    entry_point="fib",
    solution="def fib(n):\n    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a",
    tests=("assert fib(0) == 0", "assert fib(10) == 55"),
)

GOOD = """ Write a function `double(x)` that returns twice x.
Function: double
Solution:
```python
def double(x):
    return 2 * x
```
Tests:
assert double(2) == 4
assert double(-1) == -2
assert double(2) == 4

Task: something else"""


def test_an_example_renders_as_the_parser_reads_it() -> None:
    block = render_example(FIB)
    assert block.startswith("Task: Write a Python function `fib(n)`")
    parsed, reason = parse_code_task(block.removeprefix("Task:"))
    assert reason is None and parsed == FIB


def test_the_prompt_ends_where_the_model_writes_the_next_task() -> None:
    prompt = render_code_prompt([FIB, FIB])
    assert prompt.count("Function: fib") == 2
    assert prompt.endswith("\nTask:")


def test_a_well_formed_completion_parses_and_repeated_tests_collapse() -> None:
    parsed, reason = parse_code_task(GOOD)
    assert reason is None
    assert parsed == CodeExample(
        instruction="Write a function `double(x)` that returns twice x.",
        entry_point="double",
        solution="def double(x):\n    return 2 * x",
        tests=("assert double(2) == 4", "assert double(-1) == -2"),
    )


def test_each_broken_completion_has_its_reason() -> None:
    cases = {
        "Write something.\nNo code here": "code_unparseable",
        GOOD.replace("return 2 * x", "return 2 *"): "solution_syntax_error",
        GOOD.replace("Function: double", "Function: triple"): "entry_point_missing",
        GOOD.split("Tests:")[0]: "no_tests",
        GOOD.replace("assert double(-1) == -2", "assert True"): "tests_do_not_call_solution",
    }
    for completion, expected in cases.items():
        assert parse_code_task(completion) == (None, expected), expected


def test_tests_stop_at_the_first_line_that_is_not_an_assert_and_are_capped() -> None:
    many = GOOD.replace("assert double(2) == 4\n\n", "assert double(2) == 4\nprint('x')\nassert double(9) == 18\n")
    parsed, _ = parse_code_task(many)
    assert parsed is not None and parsed.tests == ("assert double(2) == 4", "assert double(-1) == -2")
    capped, _ = parse_code_task(GOOD, max_tests=1)
    assert capped is not None and capped.tests == ("assert double(2) == 4",)


def test_a_test_line_that_is_not_python_is_left_out() -> None:
    typo = GOOD.replace("assert double(-1) == -2", "assert double([1, [2]]]) == 4")
    parsed, reason = parse_code_task(typo)
    assert reason is None and parsed is not None and parsed.tests == ("assert double(2) == 4",)
