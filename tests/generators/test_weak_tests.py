"""Tests that cannot fail, named with their reason (pure)."""

from __future__ import annotations

from generators.weak_tests import weak_test_reason, weak_test_reasons


def test_each_kind_of_test_that_cannot_fail() -> None:
    cases = {
        "assert True": "assert_constant",
        "assert 1 == 1": "assert_constant",
        "assert (1, 2)": "assert_constant",
        "assert f": "asserts_function_object",
        "assert callable(f)": "asserts_function_object",
        "assert f is not None": "asserts_function_object",
        "assert f.__name__ == 'f'": "asserts_function_object",
        "assert g(1) == 2": "does_not_call_entry_point",
        "assert f(1) == f(1)": "compares_with_itself",
        "assert f(1) or True": "always_true",
        "f(1)": "no_assertion",
        "assert f(1) == 2\nassert True": None,
        "result = f(1)\nassert result == 2": None,
        "assert f(0) == 0": None,  # can fail; how little it proves is mutation testing's to say
        "assert f(1) or False": None,
        "assert f(1) is None": None,
    }
    assert {test: weak_test_reason(test, "f") for test in cases} == cases


def test_several_asserts_are_weak_only_when_none_can_fail() -> None:
    assert weak_test_reason("assert f\nassert True", "f") == "asserts_function_object"
    assert weak_test_reason("x = f(2)\nassert True\nassert x > 1", "f") is None


def test_reasons_in_order() -> None:
    assert weak_test_reasons(["assert f(2) == 4", "assert True", "assert f"], "f") == [
        None,
        "assert_constant",
        "asserts_function_object",
    ]
