"""What kind of value an expression of a solution holds, read from the code alone (pure functions).

The mutation operators use it to perturb a return value into something of the same kind (`0`, `""`,
`[]`, the negation of a bool) and to leave alone swaps that would only make code raise on every input
(`-` between two strings). A guess, never a proof: `None` means unknown, and an unknown kind only costs
the mutants that need one.
"""

from __future__ import annotations

import ast
from typing import Literal

Kind = Literal["bool", "number", "str", "list", "tuple", "dict", "set"]

_CALLS: dict[str, Kind] = {
    "len": "number", "sum": "number", "abs": "number", "int": "number", "float": "number", "round": "number",
    "ord": "number", "str": "str", "chr": "str", "repr": "str", "format": "str", "list": "list", "sorted": "list",
    "dict": "dict", "set": "set", "tuple": "tuple", "bool": "bool", "isinstance": "bool", "all": "bool",
    "any": "bool", "callable": "bool", "hasattr": "bool",
}  # fmt: skip
_METHODS: dict[str, Kind] = {
    "join": "str", "upper": "str", "lower": "str", "strip": "str", "lstrip": "str", "rstrip": "str",
    "replace": "str", "capitalize": "str", "title": "str", "casefold": "str", "swapcase": "str", "zfill": "str",
    "center": "str", "ljust": "str", "rjust": "str", "count": "number", "index": "number", "find": "number",
    "rfind": "number", "split": "list", "rsplit": "list", "splitlines": "list", "startswith": "bool",
    "endswith": "bool",
}  # fmt: skip
_LITERALS: dict[type[ast.AST], Kind] = {
    ast.List: "list", ast.ListComp: "list", ast.Tuple: "tuple", ast.Dict: "dict", ast.DictComp: "dict",
    ast.Set: "set", ast.SetComp: "set", ast.JoinedStr: "str", ast.Compare: "bool",
}  # fmt: skip
_SEQUENCES = frozenset({"str", "list", "tuple"})


def expression_kind(node: ast.AST, names: dict[str, Kind]) -> Kind | None:
    if type(node) in _LITERALS:
        return _LITERALS[type(node)]
    if isinstance(node, ast.Constant):
        return _constant_kind(node.value)
    if isinstance(node, ast.Name):
        return names.get(node.id)
    if isinstance(node, ast.UnaryOp):
        return "bool" if isinstance(node.op, ast.Not) else "number"
    if isinstance(node, ast.BinOp):
        return _binop_kind(node, names)
    if isinstance(node, ast.Call):
        return _call_kind(node.func)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice):
        kind = expression_kind(node.value, names)
        return kind if kind in _SEQUENCES else None
    if isinstance(node, (ast.IfExp, ast.BoolOp)):
        branches = [node.body, node.orelse] if isinstance(node, ast.IfExp) else node.values
        kinds = {expression_kind(branch, names) for branch in branches}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def _constant_kind(value: object) -> Kind | None:
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return "str" if isinstance(value, str) else None


def _binop_kind(node: ast.BinOp, names: dict[str, Kind]) -> Kind | None:
    left, right = expression_kind(node.left, names), expression_kind(node.right, names)
    if isinstance(node.op, (ast.Add, ast.Mult)):
        for kind in (left, right):
            if kind in _SEQUENCES:
                return kind  # "ab" * 2, [0] + rest
        return "number" if left == right == "number" else None
    if isinstance(node.op, ast.Mod) and left == "str":
        return "str"  # %-formatting
    if isinstance(node.op, (ast.BitOr, ast.BitAnd, ast.BitXor, ast.Sub)) and left in ("set", "dict"):
        return left
    return "number" if isinstance(node.op, (ast.Sub, ast.Div, ast.FloorDiv, ast.Mod, ast.Pow)) else None


def _call_kind(func: ast.expr) -> Kind | None:
    if isinstance(func, ast.Name):
        return _CALLS.get(func.id)
    if isinstance(func, ast.Attribute):
        if func.attr.startswith("is") and func.attr[2:].isalpha():
            return "bool"  # str.isdigit(), isalpha(), ...
        return _METHODS.get(func.attr)
    return None


def name_kinds(tree: ast.AST) -> dict[str, Kind]:
    """Names whose every assignment in the code gives one kind. A name bound by a loop, `with`, `import`
    or an assignment of unknown kind is left out; parameters are not assignments and do not count."""
    seen: dict[str, set[Kind | None]] = {}
    known: dict[str, Kind] = {}
    for _ in range(2):  # the second pass sees names assigned from names (`result = items[:]`)
        seen.clear()
        for node in ast.walk(tree):
            for target, value in _bindings(node):
                _bind(target, value, known, seen)
        known = {name: kinds.pop() for name, kinds in seen.items() if len(kinds) == 1 and None not in kinds}
    return known


def _bindings(node: ast.AST) -> list[tuple[ast.expr, ast.expr | None]]:
    if isinstance(node, ast.Assign):
        return [(target, node.value) for target in node.targets]
    if isinstance(node, (ast.AnnAssign, ast.NamedExpr)):
        return [(node.target, node.value)]
    if isinstance(node, (ast.For, ast.AsyncFor, ast.comprehension)):
        return [(node.target, None)]
    if isinstance(node, ast.withitem) and node.optional_vars is not None:
        return [(node.optional_vars, None)]
    return []


def _bind(target: ast.expr, value: ast.expr | None, known: dict[str, Kind], seen: dict[str, set[Kind | None]]) -> None:
    if isinstance(target, ast.Name):
        seen.setdefault(target.id, set()).add(None if value is None else expression_kind(value, known))
    elif isinstance(target, (ast.Tuple, ast.List)):
        values = value.elts if isinstance(value, (ast.Tuple, ast.List)) else None
        if values is not None and len(values) == len(target.elts):
            for element, element_value in zip(target.elts, values, strict=True):
                _bind(element, element_value, known, seen)
        else:
            for element in target.elts:
                _bind(element, None, known, seen)
    elif isinstance(target, ast.Starred):
        _bind(target.value, None, known, seen)
