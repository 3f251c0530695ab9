"""Mutants of a code task's solution: small, plausible bugs its tests should notice (pure functions).

A mutant is the solution with one change (an operator or comparison swapped, a constant moved, a slice or
range bound off by one, a return value perturbed). Tests that still pass on a mutant did not notice the
change; the share of mutants the tests kill measures how much they prove (`generators.code_verification`).

Only the entry point and what it uses (top-level functions, classes and assignments its names reach) are
mutated: a change to code nothing calls survives every test and would say nothing about them. Each mutant
replaces the source text of one node, so the rest of the solution keeps its spelling, comments and line
numbers; a mutant whose source parses to the same tree as the original, or as an earlier mutant, is dropped.
At most `MAX_MUTANTS` are kept, taken round-robin over the operators and, within one, spread over the lines.

Written with `ast` rather than taken from a mutation-testing library: none is installed here, and the
maintained ones are built to mutate files of a project on disk and run its test suite (cosmic-ray: parso
operators driven by a session database over module paths; mutmut 3: whole-file trampolines run under
pytest; mutatest: compiled mutants written to __pycache__, last released in 2022). None hands back the
mutated source of one snippet, and none perturbs return values by the kind of value returned.
"""

from __future__ import annotations

import ast
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from typing import Literal, NamedTuple

import msgspec

from generators.mutation_kinds import Kind, expression_kind, name_kinds

MUTATION_VERSION = "mutation.v1"  # stored with every kill rate: another operator set makes another scale
MAX_MUTANTS = 30
_SHOWN_CHARS = 40  # of a node's source in a description

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


class Mutant(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # m01, m02, ... in source order
    operator: MutationOperator
    line: int  # 1-based, in the solution as given
    description: str  # e.g. "`<` -> `<=`"
    changed_line: str  # that line of the mutant, stripped
    source: str  # the whole mutated solution


class SolutionError(ValueError):
    """A solution that cannot be mutated; `code` is stable: solution_unparseable, entry_point_missing."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class _Site(NamedTuple):
    operator: MutationOperator
    node: ast.AST  # whose source text is replaced
    text: str  # the replacement
    description: str
    order: int  # pre-order position: ties of line and column keep the walk's order


def make_mutants(solution: str, entry_point: str, *, limit: int = MAX_MUTANTS) -> list[Mutant]:
    """At most `limit` distinct mutants of the code `entry_point` reaches, in source order (deterministic)."""
    source = solution.replace("\r\n", "\n").replace("\r", "\n")
    tree = parse_solution(source)
    kinds = name_kinds(tree)
    sites = [site for statement in reachable(tree, entry_point) for site in _sites(statement, kinds)]
    splicer = _Splicer(source)
    seen = {ast.dump(tree)}
    chosen: list[tuple[_Site, str]] = []
    for site in _spread(sites):
        if len(chosen) >= limit:
            break
        if not splicer.locates(site.node):
            continue
        mutated = splicer.replace(site.node, site.text)
        dump = _dump(mutated)
        if dump is not None and dump not in seen:
            seen.add(dump)
            chosen.append((site, mutated))
    chosen.sort(key=lambda pair: (pair[0].node.lineno, pair[0].node.col_offset, pair[0].order))
    return [
        Mutant(
            id=f"m{number:02d}",
            operator=site.operator,
            line=site.node.lineno,
            description=site.description,
            changed_line=mutated.split("\n")[site.node.lineno - 1].strip(),
            source=mutated,
        )
        for number, (site, mutated) in enumerate(chosen, start=1)
    ]


def parse_solution(source: str) -> ast.Module:
    try:
        return ast.parse(source)
    except (SyntaxError, ValueError, MemoryError, RecursionError) as exc:
        raise SolutionError("solution_unparseable", f"the solution does not parse: {exc}") from None


def reachable(tree: ast.Module, entry_point: str) -> list[ast.stmt]:
    """The top-level statements that bind the entry point and, transitively, the names it uses."""
    bindings: dict[str, list[ast.stmt]] = {}
    for statement in tree.body:
        for name in _bound_names(statement):
            bindings.setdefault(name, []).append(statement)
    if entry_point not in bindings:
        raise SolutionError("entry_point_missing", f"the solution defines no top-level {entry_point!r}")
    found: dict[int, ast.stmt] = {}
    pending = [entry_point]
    while pending:
        for statement in bindings.get(pending.pop(), []):
            if id(statement) not in found:
                found[id(statement)] = statement
                pending.extend(n.id for n in ast.walk(statement) if isinstance(n, ast.Name) and n.id in bindings)
    return sorted(found.values(), key=lambda statement: statement.lineno)


def _bound_names(statement: ast.stmt) -> list[str]:
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return [statement.name]
    if isinstance(statement, (ast.Assign, ast.AnnAssign)):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        return [n.id for target in targets for n in ast.walk(target) if isinstance(n, ast.Name)]
    return []


def _walk(node: ast.AST, open_slot: bool = False) -> Iterator[tuple[ast.AST, bool]]:
    """Pre-order, without annotations, decorators, match patterns and docstrings (no behaviour to change)."""
    yield node, open_slot
    for field, value in ast.iter_fields(node):
        if field in _SKIPPED_FIELDS:
            continue
        for child in value if isinstance(value, list) else [value]:
            if isinstance(child, ast.AST) and not _is_docstring(child):
                yield from _walk(child, (type(node).__name__, field) in _OPEN_SLOTS)


def _is_docstring(node: ast.AST) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str)


def _sites(statement: ast.stmt, kinds: dict[str, Kind]) -> Iterator[_Site]:
    bounds = _bound_literals(statement)
    for order, (node, open_slot) in enumerate(_walk(statement)):
        for operator, target, replacement, description in _replacements(node, kinds, bounds):
            # A target other than the node is a return value, a slice bound or a call argument: open slots.
            fits_bare = target is not node or open_slot or isinstance(target, ast.stmt) or _is_atom(replacement)
            text = ast.unparse(replacement)
            yield _Site(operator, target, text if fits_bare else f"({text})", description, order)


_Replacement = tuple[MutationOperator, ast.AST, ast.AST, str]  # operator, the node replaced, its replacement, why


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
        yield "not_removal", node, node.operand, f"`{_shown(node)}` -> `{_shown(node.operand)}`"
    elif isinstance(node, ast.Constant):
        for value in [] if id(node) in bounds else _constant_values(node.value):
            yield "constant", node, ast.Constant(value), f"`{_shown(node)}` -> `{ast.unparse(ast.Constant(value))}`"
    elif isinstance(node, ast.Slice):
        for bound in (node.lower, node.upper):
            yield from _off_by_one(bound, "slice bound")
    elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "range":
        for bound in node.args[:2]:
            yield from _off_by_one(bound, "range bound")
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
        yield "off_by_one", bound, shifted, f"{what} `{_shown(bound)}` -> `{_shown(shifted)}`"


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
        if kind in _EMPTY:
            options.append(ast.parse(_EMPTY[kind], mode="eval").body)
    for option in options:
        yield "return_value", value, option, f"return `{_shown(value)}` -> `{_shown(option)}`"


def _spread(sites: Sequence[_Site]) -> Iterator[_Site]:
    """Round-robin over the operators. Within one: the first change of every node before any second change of
    one, the nodes of a line in turn, and the lines in an order that halves the gaps (first, middle,
    quarters...), so that a cap samples the whole code rather than its first lines."""
    queues = [deque(_spread_nodes([s for s in sites if s.operator == op])) for op in OPERATORS]
    queues = [queue for queue in queues if queue]
    while queues:
        for queue in queues:
            yield queue.popleft()
        queues = [queue for queue in queues if queue]


def _spread_nodes(sites: list[_Site]) -> list[_Site]:
    lines = sorted({site.node.lineno for site in sites})
    width = max(1, (len(lines) - 1).bit_length())
    position = {line: _bit_reversed(index, width) for index, line in enumerate(lines)}
    variants: dict[int, int] = {}  # node -> changes of it so far
    nodes_on_line: dict[int, list[int]] = {}
    keyed = []
    for site in sorted(sites, key=lambda s: (s.node.lineno, s.node.col_offset, s.order)):
        node, line = id(site.node), site.node.lineno
        variant = variants[node] = variants.get(node, -1) + 1
        nodes = nodes_on_line.setdefault(line, [])
        if node not in nodes:
            nodes.append(node)
        keyed.append(((variant, nodes.index(node), position[line], site.order), site))
    return [site for _, site in sorted(keyed, key=lambda pair: pair[0])]


def _bit_reversed(value: int, width: int) -> int:
    return int(f"{value:0{width}b}"[::-1], 2)


class _Splicer:
    """Replaces one node's source text; ast columns are UTF-8 byte offsets, hence the bytes."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.data = source.encode()
        self.starts = [0]
        for line in self.data.split(b"\n")[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def locates(self, node: ast.AST) -> bool:
        """Whether the node's recorded position holds its own source (a guard against positions that
        parsers of older Pythons got wrong, e.g. inside f-strings)."""
        segment = ast.get_source_segment(self.source, node)
        if segment is None:
            return False
        wrapped = segment if isinstance(node, ast.stmt) else f"({segment})"
        dump = _dump(wrapped)
        expected = ast.dump(ast.Module(body=[node if isinstance(node, ast.stmt) else ast.Expr(node)], type_ignores=[]))
        return dump == expected

    def replace(self, node: ast.AST, text: str) -> str:
        start = self.starts[node.lineno - 1] + node.col_offset
        end = self.starts[node.end_lineno - 1] + node.end_col_offset
        return (self.data[:start] + text.encode() + self.data[end:]).decode()


def _dump(source: str) -> str | None:
    """The mutant's tree, to compare with the original's and earlier mutants'; None when it does not parse
    (a replacement that does not fit its place, e.g. a quote inside an f-string before Python 3.12)."""
    try:
        return ast.dump(ast.parse(source))
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def _is_atom(node: ast.AST) -> bool:
    if isinstance(node, ast.Constant):
        return not (isinstance(node.value, (int, float)) and not isinstance(node.value, bool) and node.value < 0)
    return isinstance(node, _ATOMS)


_SYMBOLS = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%", ast.Lt: "<",
    ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==", ast.NotEq: "!=", ast.In: "in", ast.NotIn: "not in",
    ast.Is: "is", ast.IsNot: "is not", ast.And: "and", ast.Or: "or",
}  # fmt: skip


def _symbol(op: ast.AST) -> str:
    return _SYMBOLS[type(op)]


def _shown(node: ast.AST) -> str:
    text = ast.unparse(node)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def operators_of(mutants: Iterable[Mutant]) -> dict[str, int]:
    """How many mutants each operator made, in the operators' order."""
    counts = {op: 0 for op in OPERATORS}
    for mutant in mutants:
        counts[mutant.operator] += 1
    return {op: n for op, n in counts.items() if n}
