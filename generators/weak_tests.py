"""Tests that cannot fail, found by reading them (pure functions).

Mutation testing measures how much a test set proves; some tests prove nothing whatever the solution
does, and are named here with a stable reason:

    assert_constant             `assert True`, `assert 1`: the value is fixed before anything runs
    asserts_function_object     `assert f`, `assert callable(f)`, `assert f is not None`: true of any `def f`
    does_not_call_entry_point   the function is never called (nor named)
    compares_with_itself        `assert f(1) == f(1)`: both sides are the same expression
    always_true                 `assert f(1) or True`: an `or` with a true literal
    no_assertion                statements without an assert (`f(1)`): it fails only if the call raises

A test with several asserts is weak only when none of them can fail. A test such as `assert f(0) == 0`
can fail, so it is not named here even though it proves little: mutation testing measures that.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from typing import Literal

WeakReason = Literal[
    "assert_constant",
    "asserts_function_object",
    "does_not_call_entry_point",
    "compares_with_itself",
    "always_true",
    "no_assertion",
]


def weak_test_reasons(tests: Sequence[str], entry_point: str) -> list[WeakReason | None]:
    return [weak_test_reason(test, entry_point) for test in tests]


def weak_test_reason(test: str, entry_point: str) -> WeakReason | None:
    """Why the test cannot fail, or None. The test must parse (SyntaxError otherwise)."""
    tree = ast.parse(test)
    asserts = [node for node in ast.walk(tree) if isinstance(node, ast.Assert)]
    reasons = [_assert_reason(node.test, entry_point) for node in asserts]
    if asserts and all(reason == "assert_constant" for reason in reasons):
        return "assert_constant"
    if not _calls(tree, entry_point):
        return "asserts_function_object" if _names(tree, entry_point) else "does_not_call_entry_point"
    if not asserts:
        return "no_assertion"
    if all(reason is not None for reason in reasons):
        return next(reason for reason in reasons if reason != "assert_constant")
    return None


def _assert_reason(test: ast.expr, entry_point: str) -> WeakReason | None:
    if not any(isinstance(node, ast.Name) for node in ast.walk(test)):
        return "assert_constant"  # literals only: `assert True`, `assert 1 == 1`
    if _names(test, entry_point) and not _calls(test, entry_point):
        return "asserts_function_object"
    if isinstance(test, ast.Compare) and any(
        ast.dump(left) == ast.dump(right)
        for left, right in zip([test.left, *test.comparators], test.comparators, strict=False)
    ):
        return "compares_with_itself"
    if isinstance(test, ast.BoolOp) and isinstance(test.op, ast.Or):
        if any(_is_true_literal(value) for value in test.values):
            return "always_true"
    return None


def _is_true_literal(node: ast.expr) -> bool:
    try:
        return bool(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False


def _calls(tree: ast.AST, name: str) -> bool:
    return any(
        isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == name
        for node in ast.walk(tree)
    )


def _names(tree: ast.AST, name: str) -> bool:
    return any(isinstance(node, ast.Name) and node.id == name for node in ast.walk(tree))
