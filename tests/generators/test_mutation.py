"""Mutants of small solutions: exact lists, literal inputs (pure, no sandbox)."""

from __future__ import annotations

import ast

import pytest

from generators.mutation import MAX_MUTANTS, Mutant, SolutionError, make_mutants, operators_of
from generators.mutation_kinds import expression_kind, name_kinds


def listed(mutants: list[Mutant]) -> list[tuple[str, str, int, str, str]]:
    return [(m.id, m.operator, m.line, m.description, m.changed_line) for m in mutants]


def test_arithmetic_swap_and_return_none() -> None:
    mutants = make_mutants("def add(a, b):\n    return a + b\n", "add")
    assert listed(mutants) == [
        ("m01", "return_value", 2, "return `a + b` -> `None`", "return None"),
        ("m02", "arithmetic", 2, "`+` -> `-`", "return a - b"),
    ]
    assert [m.source for m in mutants] == ["def add(a, b):\n    return None\n", "def add(a, b):\n    return a - b\n"]


def test_comparison_constants_and_the_negated_bool() -> None:
    assert listed(make_mutants("def is_adult(age):\n    return age >= 18\n", "is_adult")) == [
        ("m01", "return_value", 2, "return `age >= 18` -> `None`", "return None"),
        ("m02", "return_value", 2, "return `age >= 18` -> `not age >= 18`", "return not age >= 18"),
        ("m03", "comparison", 2, "`>=` -> `>`", "return age > 18"),
        ("m04", "constant", 2, "`18` -> `19`", "return age >= 19"),
        ("m05", "constant", 2, "`18` -> `17`", "return age >= 17"),
        ("m06", "constant", 2, "`18` -> `0`", "return age >= 0"),
    ]


def test_boolean_swap_and_not_removal() -> None:
    assert listed(make_mutants("def both(a, b):\n    return a and not b\n", "both")) == [
        ("m01", "return_value", 2, "return `a and (not b)` -> `None`", "return None"),
        ("m02", "boolean", 2, "`and` -> `or`", "return a or not b"),
        ("m03", "not_removal", 2, "`not b` -> `b`", "return a and b"),
    ]


def test_range_bounds_augmented_assignment_and_empty_number() -> None:
    source = "def total(n):\n    s = 0\n    for i in range(1, n):\n        s += i\n    return s\n"
    assert listed(make_mutants(source, "total")) == [
        ("m01", "constant", 2, "`0` -> `1`", "s = 1"),
        ("m02", "constant", 2, "`0` -> `-1`", "s = -1"),  # `0` -> `0` is the original: dropped
        ("m03", "off_by_one", 3, "range bound `1` -> `2`", "for i in range(2, n):"),
        ("m04", "off_by_one", 3, "range bound `1` -> `0`", "for i in range(0, n):"),
        ("m05", "off_by_one", 3, "range bound `n` -> `n + 1`", "for i in range(1, n + 1):"),
        ("m06", "off_by_one", 3, "range bound `n` -> `n - 1`", "for i in range(1, n - 1):"),
        ("m07", "arithmetic", 4, "`+=` -> `-=`", "s -= i"),
        ("m08", "return_value", 5, "return `s` -> `None`", "return None"),
        ("m09", "return_value", 5, "return `s` -> `-s`", "return -s"),
        ("m10", "return_value", 5, "return `s` -> `0`", "return 0"),
    ]


def test_slice_bounds_carry_one_name() -> None:
    # The literal 1 as a bound: +-1 is off_by_one's; the constant operator's `0` would be the same change.
    assert listed(make_mutants("def tail(x):\n    return x[1:]\n", "tail")) == [
        ("m01", "return_value", 2, "return `x[1:]` -> `None`", "return None"),
        ("m02", "off_by_one", 2, "slice bound `1` -> `2`", "return x[2:]"),
        ("m03", "off_by_one", 2, "slice bound `1` -> `0`", "return x[0:]"),
    ]
    assert listed(make_mutants("def drop_last(s):\n    return s[:-1]\n", "drop_last")) == [
        ("m01", "return_value", 2, "return `s[:-1]` -> `None`", "return None"),
        ("m02", "off_by_one", 2, "slice bound `-1` -> `0`", "return s[:0]"),
        ("m03", "off_by_one", 2, "slice bound `-1` -> `-2`", "return s[:-2]"),
    ]


def test_strings_swap_with_empty_and_concatenation_is_not_subtracted() -> None:
    source = 'def greet(name):\n    if name == "":\n        return "hi"\n    return "hi " + name\n'
    assert listed(make_mutants(source, "greet")) == [
        ("m01", "comparison", 2, "`==` -> `!=`", "if name != '':"),
        ("m02", "constant", 2, "`''` -> `'x'`", "if name == 'x':"),
        ("m03", "return_value", 3, "return `'hi'` -> `None`", "return None"),
        ("m04", "constant", 3, "`'hi'` -> `''`", "return ''"),
        ("m05", "return_value", 4, "return `'hi ' + name` -> `None`", "return None"),
        ("m06", "return_value", 4, "return `'hi ' + name` -> `''`", "return ''"),
        ("m07", "constant", 4, "`'hi '` -> `''`", "return '' + name"),
    ]


def test_true_false_and_a_literal_return_is_the_constant_operators() -> None:
    source = "def flag(x):\n    if x:\n        return True\n    return False\n"
    assert listed(make_mutants(source, "flag")) == [
        ("m01", "return_value", 3, "return `True` -> `None`", "return None"),
        ("m02", "constant", 3, "`True` -> `False`", "return False"),
        ("m03", "return_value", 4, "return `False` -> `None`", "return None"),
        ("m04", "constant", 4, "`False` -> `True`", "return True"),
    ]


def test_empty_values_follow_the_kind_the_code_shows() -> None:
    source = (
        "def copy(items):\n    result = []\n    for item in items:\n        result.append(item)\n    return result\n"
    )
    returns = [m.description for m in make_mutants(source, "copy") if m.operator == "return_value"]
    assert returns == ["return `result` -> `None`", "return `result` -> `[]`"]


def test_only_what_the_entry_point_reaches_is_mutated_and_the_rest_keeps_its_text() -> None:
    source = (
        "FACTOR = 3\n\n\ndef unused(x):\n    return x - 1\n\n\ndef _helper(x):\n    return x * FACTOR\n\n\n"
        'def scaled(x: int = 2) -> int:\n    """Scale by 3."""\n    return _helper(x)  # keep this comment\n'
    )
    mutants = make_mutants(source, "scaled")
    assert listed(mutants) == [
        ("m01", "constant", 1, "`3` -> `4`", "FACTOR = 4"),
        ("m02", "constant", 1, "`3` -> `2`", "FACTOR = 2"),
        ("m03", "constant", 1, "`3` -> `0`", "FACTOR = 0"),
        ("m04", "return_value", 9, "return `x * FACTOR` -> `None`", "return None"),
        ("m05", "arithmetic", 9, "`*` -> `/`", "return x / FACTOR"),
        ("m06", "constant", 12, "`2` -> `3`", "def scaled(x: int = 3) -> int:"),
        ("m07", "constant", 12, "`2` -> `1`", "def scaled(x: int = 1) -> int:"),
        ("m08", "constant", 12, "`2` -> `0`", "def scaled(x: int = 0) -> int:"),
        ("m09", "return_value", 14, "return `_helper(x)` -> `None`", "return None  # keep this comment"),
    ]
    assert mutants[8].source == source.replace("return _helper(x)", "return None")


def test_columns_are_bytes_so_non_ascii_lines_splice_right() -> None:
    source = 'def accent(s):  # é\n    return "é" + s if s else s[1:]\n'
    assert [m.changed_line for m in make_mutants(source, "accent")] == [
        "return None",
        "return '' + s if s else s[1:]",
        'return "é" + s if s else s[2:]',
        'return "é" + s if s else s[0:]',
    ]


def test_parentheses_keep_precedence() -> None:
    mutants = make_mutants("def f(a, b, c):\n    return c - a * b\n", "f")
    assert [m.changed_line for m in mutants if m.operator == "arithmetic"] == ["return c + a * b", "return c - (a / b)"]


def test_the_cap_samples_every_operator_and_line() -> None:
    source = "def total(n):\n    s = 0\n    for i in range(1, n):\n        s += i\n    return s\n"
    assert listed(make_mutants(source, "total", limit=4)) == [
        ("m01", "constant", 2, "`0` -> `1`", "s = 1"),
        ("m02", "off_by_one", 3, "range bound `1` -> `2`", "for i in range(2, n):"),
        ("m03", "arithmetic", 4, "`+=` -> `-=`", "s -= i"),
        ("m04", "return_value", 5, "return `s` -> `None`", "return None"),
    ]


def test_a_long_solution_is_capped_deterministically_with_distinct_parsing_mutants() -> None:
    body = "\n".join(f"    x = x + {n} if x < {n} else x - {n}" for n in range(1, 40))
    source = f"def long(x):\n{body}\n    return x\n"
    first, second = make_mutants(source, "long"), make_mutants(source, "long")
    assert first == second
    assert len(first) == MAX_MUTANTS
    assert operators_of(first) == {"arithmetic": 10, "comparison": 10, "constant": 9, "return_value": 1}
    # Spread over the 39 lines (every fourth, by bit-reversed order), not the first ten.
    assert sorted({m.line for m in first}) == [2, 6, 10, 14, 18, 22, 26, 30, 34, 38, 41]
    trees = {ast.dump(ast.parse(m.source)) for m in first}
    assert len(trees) == MAX_MUTANTS and ast.dump(ast.parse(source)) not in trees


def test_docstrings_annotations_and_decorators_are_left_alone() -> None:
    source = (
        "import functools\n\n\n@functools.lru_cache(maxsize=128)\n"
        'def f(x: "int" = None) -> "int":\n    """Doc 1."""\n    return x\n'
    )
    assert listed(make_mutants(source, "f")) == [("m01", "return_value", 7, "return `x` -> `None`", "return None")]


def test_nothing_to_change_gives_no_mutants() -> None:
    assert make_mutants("def f(x):\n    pass\n", "f") == []
    assert make_mutants("def add(a, b):\n    return a + b\n", "add", limit=0) == []


def test_an_unparseable_solution_or_a_missing_entry_point_raise_with_a_code() -> None:
    with pytest.raises(SolutionError) as unparseable:
        make_mutants("def f(:\n", "f")
    assert unparseable.value.code == "solution_unparseable"
    with pytest.raises(SolutionError) as missing:
        make_mutants("def g(x):\n    return x\n", "f")
    assert missing.value.code == "entry_point_missing"
    assert str(missing.value) == "the solution defines no top-level 'f'"


def test_kinds_read_from_the_code() -> None:
    tree = ast.parse("a, b = abs(x), ''\nc = [] \nc = list(y)\nd = 1\nfor d in y: pass\n")
    assert name_kinds(tree) == {"a": "number", "b": "str", "c": "list"}
    kinds = {"s": "str"}
    cases = {"s[1:]": "str", "'-'.join(p)": "str", "n % 2 == 0": "bool", "len(p) - 1": "number",
             "s * 2": "str", "x if y else None": None, "p.isdigit()": "bool", "f(x)": None}  # fmt: skip
    assert {text: expression_kind(ast.parse(text, mode="eval").body, kinds) for text in cases} == cases


def test_inside_f_strings_only_replacements_that_fit_are_kept() -> None:
    # The literal parts of an f-string have no position of their own before Python 3.12, and `''` does not
    # fit inside f'...' there: such changes are dropped, the others kept.
    source = 'def f(n, s):\n    return f"{n + 1}!" + f\'{s["k"]}\'\n'
    assert [(m.operator, m.changed_line) for m in make_mutants(source, "f")] == [
        ("return_value", "return None"),
        ("return_value", "return ''"),
        ("arithmetic", 'return f"{(n - 1)}!" + f\'{s["k"]}\''),
        ("constant", 'return f"{n + 2}!" + f\'{s["k"]}\''),
        ("constant", 'return f"{n + 0}!" + f\'{s["k"]}\''),
    ]


def test_a_returned_empty_literal_is_not_replaced_by_itself() -> None:
    source = "def f(items):\n    if not items:\n        return []\n    return items\n"
    assert [m.description for m in make_mutants(source, "f")] == [
        "`not items` -> `items`",
        "return `[]` -> `None`",
        "return `items` -> `None`",
    ]


def test_too_deep_a_solution_is_refused_with_a_code() -> None:
    with pytest.raises(SolutionError) as deep:
        make_mutants("def f(a):\n    return a" + " + 1" * 900 + "\n", "f")
    assert deep.value.code == "solution_too_deep"
