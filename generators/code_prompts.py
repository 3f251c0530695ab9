"""The code method's prompt and the parser of what the model writes back. Pure functions only.

A worked example is a block: `Task:` (one line), `Function:` (the entry point), a fenced solution, and
`Tests:` followed by one `assert` per line. The model continues a prompt that ends in `Task:`; the parser
takes its block apart and checks with `ast` that the solution defines the function and every test calls it
(a test that does not call the solution proves nothing, e.g. `assert True`).
"""

from __future__ import annotations

import ast
import re

from domain.records import CodeExample
from generators.templating import one_line, render, render_prompt

CODE_TEMPLATE = "code_task.v1"
CODE_EXAMPLE_TEMPLATE = "code_example.v1"
FENCE = "```"


def render_example(example: CodeExample) -> str:
    return render(
        CODE_EXAMPLE_TEMPLATE, instruction=one_line(example.instruction), entry_point=example.entry_point,
        solution=example.solution.strip(), tests="\n".join(example.tests),
    )  # fmt: skip


def render_code_prompt(examples: list[CodeExample]) -> str:
    return render_prompt(CODE_TEMPLATE, examples="\n".join(render_example(e) for e in examples))


_FUNCTION = re.compile(r"^\s*Function:\s*`?([A-Za-z_][A-Za-z0-9_]*)`?", re.MULTILINE)
_SOLUTION = re.compile(r"Solution:\s*\n```(?:python|py)?\s*\n(.*?)\n\s*```", re.DOTALL)


def _parses(test: str) -> bool:
    try:
        ast.parse(test)
    except SyntaxError:
        return False
    return True


def _tests_after(text: str) -> list[str]:
    """The `assert` lines right after `Tests:`, up to the first line that is not one.

    A line that is not valid Python (a typo such as an unbalanced bracket) is left out rather than
    allowed to crash the run: each test kept is a real assertion, and the pass rule stays "all of them".
    """
    head, marker, rest = text.partition("Tests:")
    if not marker:
        return []
    tests = []
    for line in rest.strip("\n").split("\n"):
        if not line.strip().startswith("assert "):
            break
        if line.strip() not in tests and _parses(line.strip()):
            tests.append(line.strip())
    return tests


def _defines(solution: ast.Module, name: str) -> bool:
    return any(isinstance(node, ast.FunctionDef) and node.name == name for node in solution.body)


def _calls(test: str, name: str) -> bool:
    tree = ast.parse(test)
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
        for node in ast.walk(tree)
    )


def parse_code_task(completion: str, *, max_tests: int = 10) -> tuple[CodeExample | None, str | None]:
    """A candidate and None, or None and the reason the completion holds no usable task."""
    text = completion.split("\nTask:", 1)[0]
    instruction = text.split("\n", 1)[0].strip()
    function, solution = _FUNCTION.search(text), _SOLUTION.search(text)
    if not instruction or function is None or solution is None:
        return None, "code_unparseable"
    name, code = function.group(1), solution.group(1).rstrip()
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return None, "solution_syntax_error"
    if not _defines(tree, name):
        return None, "entry_point_missing"
    tests = _tests_after(text[solution.end() :])
    if not tests:
        return None, "no_tests"
    if not all(_calls(test, name) for test in tests):
        return None, "tests_do_not_call_solution"
    return CodeExample(instruction=instruction, entry_point=name, solution=code, tests=tuple(tests[:max_tests])), None
