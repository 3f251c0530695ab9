"""Test items -> checks the parent can judge without trusting the child (pure functions).

A test item is Python source, normally one assert. The child is only ever sent an expression to evaluate;
the value it reports back is compared here, in the parent:

    assert <expr> == <literal>    (either side)   the child sees <expr>; the literal never leaves the parent,
                                                   so code that lies about its results cannot know what to say
    assert <expr> is None/True/False              the value must be that exact constant
    assert <expr>                                  the value must be exactly True (a bool), not merely truthy
    anything else (several statements, no assert)  run as statements; it passes when nothing is raised. Weaker:
                                                   code that tampers with the harness can fake these
"""

from __future__ import annotations

import ast
import reprlib
from typing import Literal

import msgspec

CheckKind = Literal["value", "exact", "statements"]

_NO_VALUE = object()
_SINGLETONS = (None, True, False)
_SHOWN_CHARS = 200
_SHOWN_INT_BITS = 10_000  # about 3,000 digits: below the interpreter's int -> str limit
_LOG10_2 = 0.30103


class Check(msgspec.Struct, frozen=True, kw_only=True):
    source: str  # the test item as given, for messages
    kind: CheckKind
    code: str  # what the child evaluates (an expression) or executes (statements)
    expected: object = None  # "value": compared with ==; "exact": same type and equal


class InvalidTestError(ValueError):
    """A test item that is not valid Python."""


def parse_check(source: str) -> Check:
    try:
        module = ast.parse(source, mode="exec")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise InvalidTestError(f"test does not parse: {exc}") from None
    body = module.body
    if len(body) != 1 or not isinstance(body[0], ast.Assert):
        return Check(source=source, kind="statements", code=source)
    test = body[0].test
    comparison = _literal_comparison(test)
    if comparison is not None:
        expr, expected, kind = comparison
        return Check(source=source, kind=kind, code=_segment(source, expr), expected=expected)
    return Check(source=source, kind="exact", code=_segment(source, test), expected=True)


def _literal_comparison(test: ast.expr) -> tuple[ast.expr, object, CheckKind] | None:
    if not isinstance(test, ast.Compare) or len(test.ops) != 1:
        return None
    left, op, right = test.left, test.ops[0], test.comparators[0]
    if isinstance(op, ast.Eq):
        for expr, other in ((left, right), (right, left)):
            value = _literal(other)
            if value is not _NO_VALUE:
                return expr, value, "value"
    if isinstance(op, ast.Is) and isinstance(right, ast.Constant) and any(right.value is c for c in _SINGLETONS):
        return left, right.value, "exact"
    return None


def _literal(node: ast.expr) -> object:
    try:
        return ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return _NO_VALUE


def _segment(source: str, node: ast.expr) -> str:
    # The source text keeps the author's spelling; unparse covers nodes split over continuation lines.
    segment = ast.get_source_segment(source, node)
    return f"({segment})" if segment is not None else ast.unparse(node)


def decode_value(literal: str) -> tuple[bool, object]:
    """The child's value, written as a Python literal, read back as plain data without evaluating code."""
    try:
        return True, ast.literal_eval(literal)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return False, None


def judge_value(check: Check, value: object) -> str | None:
    """None when the value satisfies the check, else the failure message. Never raises, for any value the
    child can send back (`decode_value`'s output: plain data of any size and up to the parser's nesting)."""
    try:
        if check.kind == "value" and value == check.expected:
            return None
        if check.kind == "exact" and type(value) is type(check.expected) and value == check.expected:
            return None
    except (RecursionError, MemoryError):
        return f"{shorten(check.source)}: got a value too large to compare"
    return f"{shorten(check.source)}: got {show_value(value)}"


class _ShortRepr(reprlib.Repr):
    """reprlib, which bounds the length and depth of what it shows, made safe for ints past the interpreter's
    4,300-digit limit on int -> str conversion and cheap for huge bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother, self.maxlong = 4, 80, 80, 60

    def repr_int(self, x: int, level: int) -> str:
        if x.bit_length() > _SHOWN_INT_BITS:
            sign = "a negative" if x < 0 else "an"
            return f"<{sign} int of about {int(x.bit_length() * _LOG10_2) + 1} digits>"
        return super().repr_int(x, level)

    def repr_bytes(self, x: bytes, level: int) -> str:
        return repr(x[: self.maxstring]) + ("..." if len(x) > self.maxstring else "")


def show_value(value: object) -> str:
    """A short, printable rendering of a plain-data value: never raises, never longer than `_SHOWN_CHARS`."""
    try:
        return shorten(_ShortRepr().repr(value))
    except Exception as exc:  # noqa: BLE001 - a rendering for a message must not fail the verdict
        return f"<a {type(value).__name__} that cannot be shown: {type(exc).__name__}>"


def shorten(text: str, limit: int = _SHOWN_CHARS) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
