"""The mutation operators: where in a solution's tree a small change can be made, and which (pure).

`sites(statement, kinds)` walks one top-level statement and yields every change the operators allow,
cheaply: the replacement is an ast node, turned into text (and a description) only for the changes that
`generators.mutation` goes on to keep.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from typing import Literal, NamedTuple

from generators.mutation_kinds import Kind, expression_kind

MutationOperator = Literal[
    "arithmetic", "comparison", "boolean", "not_removal", "constant", "off_by_one", "return_value"
]
OPERATORS: tuple[MutationOperator, ...] = (
    "arithmetic", "comparison", "boolean", "not_removal", "constant", "off_by_one", "return_value",
)  # fmt: skip

_ARITHMETIC: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Mod, ast.Mod: ast.FloorDiv,
}  # fmt: skip
# Ordering comparisons move their boundary (the classic off-by-one); the others are negated.
_COMPARISON: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq, ast.NotEq: ast.Eq,
    ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
# Swapping + on text or lists only makes code that raises on every input: a mutant no test can miss.
_NOT_ARITHMETIC: frozenset[Kind] = frozenset({"str", "list", "tuple", "dict", "set"})
_EMPTY: dict[Kind, str] = {"number": "0", "str": '""', "list": "[]", "dict": "{}", "set": "set()", "tuple": "()"}
_SKIPPED_FIELDS = frozenset({"annotation", "returns", "decorator_list", "type_comment", "pattern", "type_params"})
# Slots where any expression we make fits without parentheses (the parent's precedence cannot bind into it).
_OPEN_SLOTS = frozenset({
    ("Call", "args"), ("keyword", "value"), ("Return", "value"), ("Assign", "value"), ("AugAssign", "value"),
    ("AnnAssign", "value"), ("Slice", "lower"), ("Slice", "upper"), ("Slice", "step"), ("Subscript", "slice"),
    ("List", "elts"), ("Tuple", "elts"), ("Set", "elts"), ("Dict", "keys"), ("Dict", "values"), ("If", "test"),
    ("While", "test"), ("Assert", "test"), ("Expr", "value"),
})  # fmt: skip
_ATOMS = (ast.Name, ast.Call, ast.Attribute, ast.Subscript, ast.List, ast.Tuple, ast.Dict, ast.Set, ast.ListComp,
          ast.SetComp, ast.DictComp, ast.GeneratorExp, ast.JoinedStr)  # fmt: skip
_SHOWN_CHARS = 40  # of a node's source in a description
_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Lt: "<",
    ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in",
    ast.Is: "is", ast.IsNot: "is not", ast.And: "and", ast.Or: "or",
}  # fmt: skip

# A description: ready text, or (prefix, before, after) shown as "prefix `before` -> `after`" when kept.
Description = str | tuple[str, ast.AST, ast.AST]


class Site(NamedTuple):
    operator: MutationOperator
    node: ast.AST  # whose source text is replaced
    replacement: ast.AST
    open_slot: bool  # the replacement needs no parentheses there
    description: Description
    order: int  # pre-order position within its statement
    fstring: ast.JoinedStr | None  # the f-string the node lies in: a replacement there must be checked to parse


def sites(statement: ast.stmt, kinds: dict[str, Kind]) -> Iterator[Site]:
    bounds = _bound_literals(statement)
    for order, (node, open_slot, fstring) in enumerate(_walk(statement, False, None)):
        for operator, target, replacement, description in _replacements(node, kinds, bounds):
            # A target other than the node is a return value, a slice bound or a call argument: open slots.
            bare = target is not node or open_slot or isinstance(target, ast.stmt) or _is_atom(replacement)
            yield Site(operator, target, replacement, bare, description, order, fstring)


def replacement_text(site: Site) -> str:
    text = ast.unparse(site.replacement)
    return text if site.open_slot else f"({text})"


def describe(site: Site) -> str:
    if isinstance(site.description, str):
        return site.description
    prefix, before, after = site.description
    return f"{prefix}`{_shown(before)}` -> `{_shown(after)}`"


_Visit = tuple[ast.AST, bool, ast.JoinedStr | None]  # a node, whether it sits in an open slot, its f-string


def _walk(node: ast.AST, open_slot: bool, fstring: ast.JoinedStr | None) -> Iterator[_Visit]:
    """Pre-order, without annotations, decorators, match patterns and docstrings (no behaviour to change)."""
    yield node, open_slot, fstring
    inner = node if fstring is None and isinstance(node, ast.JoinedStr) else fstring
    for field, value in ast.iter_fields(node):
        if field in _SKIPPED_FIELDS:
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST) and not _is_docstring(child):
                yield from _walk(child, (type(node).__name__, field) in _OPEN_SLOTS, inner)


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


_Replacement = tuple[MutationOperator, ast.AST, ast.AST, Description]  # operator, node replaced, replacement, why


def _bound_literals(statement: ast.stmt) -> set[int]:
    """The integer literals that are slice or range bounds (`s[:1]`, `s[:-1]`, `range(1, n)`): the off-by-one
    operator changes them (by one, which for 1 is also the constant operator's 0), so the constant operator
    leaves them alone and one change always carries one name."""
    bounds: list[ast.expr | None] = []
    for node in ast.walk(statement):
        if isinstance(node, ast.Slice):
            bounds += [node.lower, node.upper]
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
            bounds += node.args[:2]
    found = set()
    for bound in bounds:
        if isinstance(bound, ast.UnaryOp) and isinstance(bound.op, ast.USub):
            bound = bound.operand
        if isinstance(bound, ast.Constant) and type(bound.value) is int:
            found.add(id(bound))
    return found


def _replacements(node: ast.AST, kinds: dict[str, Kind], bounds: set[int]) -> Iterator[_Replacement]:
    if isinstance(node, (ast.BinOp, ast.AugAssign)):
        yield from _arithmetic(node, kinds)
    elif isinstance(node, ast.Compare):
        for index, op in enumerate(node.ops):
            if type(op) in _COMPARISON:
                ops = [*node.ops[:index], _COMPARISON[type(op)](), *node.ops[index + 1 :]]
                swapped = ast.Compare(left=node.left, ops=ops, comparators=node.comparators)
                yield "comparison", node, swapped, f"`{_symbol(op)}` -> `{_symbol(ops[index])}`"
    elif isinstance(node, ast.BoolOp):
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        swapped_bool = ast.BoolOp(op=other, values=node.values)
        yield "boolean", node, swapped_bool, f"`{_symbol(node.op)}` -> `{_symbol(other)}`"
    elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
        yield "not_removal", node, node.operand, ("", node, node.operand)
    elif isinstance(node, ast.Constant):
        for value in [] if id(node) in bounds else _constant_values(node.value):
            yield "constant", node, ast.Constant(value), ("", node, ast.Constant(value))
    elif isinstance(node, ast.Slice):
        for bound in (node.lower, node.upper):
            yield from _off_by_one(bound, "slice bound ")
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        for bound in node.args[:2]:
            yield from _off_by_one(bound, "range bound ")
    elif isinstance(node, ast.Return) and node.value is not None:
        yield from _return_values(node.value, kinds)


def _arithmetic(node: ast.BinOp | ast.AugAssign, kinds: dict[str, Kind]) -> Iterator[_Replacement]:
    swap = _ARITHMETIC.get(type(node.op))
    operands = (node.left, node.right) if isinstance(node, ast.BinOp) else (node.target, node.value)
    if swap is None or any(expression_kind(o, kinds) in _NOT_ARITHMETIC for o in operands):
        return
    if isinstance(node, ast.BinOp):
        swapped: ast.AST = ast.BinOp(left=node.left, op=swap(), right=node.right)
        yield "arithmetic", node, swapped, f"`{_symbol(node.op)}` -> `{_symbol(swap())}`"
    else:
        swapped = ast.AugAssign(target=node.target, op=swap(), value=node.value)
        yield "arithmetic", node, swapped, f"`{_symbol(node.op)}=` -> `{_symbol(swap())}=`"


def _constant_values(value: object) -> list[object]:
    if isinstance(value, bool):
        return [not value]
    if isinstance(value, (int, float)):
        return [value + 1, value - 1, 0]
    if isinstance(value, str):
        return ["x"] if value == "" else [""]
    return []  # None, bytes, Ellipsis, complex: no plausible slip to make


def _off_by_one(bound: ast.expr | None, what: str) -> Iterator[_Replacement]:
    if bound is None:
        return
    for delta in (1, -1):
        shifted = _shift(bound, delta)
        yield "off_by_one", bound, shifted, (what, bound, shifted)


def _shift(bound: ast.expr, delta: int) -> ast.expr:
    """`bound + delta`, folded into a literal or an existing `+ k` / `- k` so that it reads as one would write it."""
    number = _int_literal(bound)
    if number is not None:
        return ast.Constant(number + delta)
    if isinstance(bound, ast.BinOp) and isinstance(bound.op, (ast.Add, ast.Sub)):
        step = _int_literal(bound.right)
        if step is not None:
            total = (step if isinstance(bound.op, ast.Add) else -step) + delta
            if total == 0:
                return bound.left
            op = ast.Add() if total > 0 else ast.Sub()
            return ast.BinOp(left=bound.left, op=op, right=ast.Constant(abs(total)))
    return ast.BinOp(left=bound, op=ast.Add() if delta > 0 else ast.Sub(), right=ast.Constant(abs(delta)))


def _int_literal(node: ast.expr) -> int | None:
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _int_literal(node.operand)
        return None if inner is None else -inner
    return None


def _return_values(value: ast.expr, kinds: dict[str, Kind]) -> Iterator[_Replacement]:
    """None always; for a computed value also its negation (a bool or a number) and the empty value of its
    kind, when the code tells the kind. A literal returned is the constant operator's to change."""
    options: list[ast.expr] = [ast.Constant(None)]
    kind = expression_kind(value, kinds)
    if not isinstance(value, ast.Constant) and _int_literal(value) is None:
        if kind == "bool":
            options.append(ast.UnaryOp(op=ast.Not(), operand=value))
        if kind == "number":
            options.append(ast.UnaryOp(op=ast.USub(), operand=value))
        empty = ast.parse(_EMPTY[kind], mode="eval").body if kind in _EMPTY else None
        if empty is not None and ast.dump(empty) != ast.dump(value):  # `return []` stays as it is
            options.append(empty)
    for option in options:
        yield "return_value", value, option, ("return ", value, option)


def _is_atom(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return not (isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value < 0)
    return isinstance(node, _ATOMS)


def _symbol(op: ast.AST) -> str:
    return _SYMBOLS[type(op)]


def _shown(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."
