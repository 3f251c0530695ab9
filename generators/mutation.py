"""Mutants of a code task's solution: small, plausible bugs its tests should notice (pure functions).

A mutant is the solution with one change (an operator or comparison swapped, a constant moved, a slice or
range bound off by one, a return value perturbed: `generators.mutation_operators`). Tests that still pass
on a mutant did not notice the change; the share of mutants the tests kill measures how much they prove
(`generators.code_verification`).

Only the entry point and what it uses (top-level functions, classes and assignments its names reach) are
mutated: a change to code nothing calls survives every test and would say nothing about them. Each mutant
replaces the source text of one node, so the rest of the solution keeps its spelling, comments and line
numbers. A change that leaves the node as it was (`0` -> `0`) is dropped, and so is one whose changed line
reads like an earlier mutant's (the same change reached by two operators). At most `MAX_MUTANTS` are kept,
taken round-robin over the operators and, within one, spread over the nodes and lines. The work is bounded
by the mutants kept, not by the size of the solution: nothing re-parses the whole mutated source.

Written with `ast` rather than taken from a mutation-testing library: none is installed here, and the
maintained ones are built to mutate files of a project on disk and run its test suite (cosmic-ray: parso
operators driven by a session database over module paths; mutmut 3: whole-file trampolines run under
pytest; mutatest: compiled mutants written to __pycache__, last released in 2022). None hands back the
mutated source of one snippet, and none perturbs return values by the kind of value returned.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from collections.abc import Iterable, Iterator, Sequence

import msgspec

from domain.job_spec import MAX_MUTANTS
from generators.mutation_kinds import name_kinds
from generators.mutation_operators import (
    OPERATORS,
    MutationOperator,
    Site,
    describe,
    replacement_text,
    sites,
)

MUTATION_VERSION = "mutation.v1"  # stored with every kill rate: another operator set makes another scale
_SPACE = re.compile(r"\s+")


class Mutant(msgspec.Struct, frozen=True, kw_only=True):
    id: str  # m01, m02, ... in source order
    operator: MutationOperator
    line: int  # 1-based, in the solution as given
    description: str  # e.g. "`<` -> `<=`"
    changed_line: str  # that line of the mutant, stripped
    source: str  # the whole mutated solution


class SolutionError(ValueError):
    """A solution that cannot be mutated; `code` is stable: solution_unparseable, solution_too_deep,
    entry_point_missing."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


def make_mutants(solution: str, entry_point: str, *, limit: int = MAX_MUTANTS) -> list[Mutant]:
    """At most `limit` distinct mutants of the code `entry_point` reaches, in source order (deterministic)."""
    source = solution.replace("\r\n", "\n").replace("\r", "\n")
    tree = parse_solution(source)
    try:
        kinds = name_kinds(tree)
        candidates = [site for statement in reachable(tree, entry_point) for site in sites(statement, kinds)]
        return [
            Mutant(
                id=f"m{number:02d}",
                operator=site.operator,
                line=site.node.lineno,
                description=describe(site),
                changed_line=_line(mutated, site).strip(),
                source=mutated,
            )
            for number, (site, mutated) in enumerate(_choose(candidates, _Splicer(source), limit), start=1)
        ]
    except RecursionError:
        raise SolutionError("solution_too_deep", "the solution nests too deeply to be mutated") from None


def _choose(candidates: list[Site], splicer: _Splicer, limit: int) -> list[tuple[Site, str]]:
    """The first `limit` changes in spread order that change something and read unlike every earlier one
    (same lines, same text but for spacing), back in source order."""
    chosen: dict[tuple[int, int, str], tuple[Site, str]] = {}
    for site in _spread(candidates):
        if len(chosen) >= limit:
            break
        mutated = splicer.mutate(site)
        if mutated is not None:
            key = (site.node.lineno, site.node.end_lineno or 0, _SPACE.sub("", _line(mutated, site)))
            chosen.setdefault(key, (site, mutated))
    return sorted(chosen.values(), key=lambda pair: (pair[0].node.lineno, pair[0].node.col_offset, pair[0].order))


def _line(mutated: str, site: Site) -> str:
    return mutated.split("\n", site.node.lineno)[site.node.lineno - 1]


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


def _spread(candidates: Sequence[Site]) -> Iterator[Site]:
    """Round-robin over the operators. Within one: the first change of every node before any second change of
    one, the nodes of a line in turn, and the lines in an order that halves the gaps (first, middle,
    quarters...), so that a cap samples the whole code rather than its first lines."""
    queues = [deque(_spread_nodes([s for s in candidates if s.operator == op])) for op in OPERATORS]
    queues = [queue for queue in queues if queue]
    while queues:
        for queue in queues:
            yield queue.popleft()
        queues = [queue for queue in queues if queue]


def _spread_nodes(sites: list[Site]) -> list[Site]:
    lines = sorted({site.node.lineno for site in sites})
    width = max(1, (len(lines) - 1).bit_length())
    position = {line: _bit_reversed(index, width) for index, line in enumerate(lines)}
    variants: dict[int, int] = {}  # node -> changes of it so far
    node_rank: dict[int, int] = {}  # node -> its place among the changed nodes of its line
    nodes_on_line: dict[int, int] = {}
    keyed = []
    for site in sorted(sites, key=lambda s: (s.node.lineno, s.node.col_offset, s.order)):
        node, line = id(site.node), site.node.lineno
        variant = variants[node] = variants.get(node, -1) + 1
        if node not in node_rank:
            node_rank[node] = nodes_on_line[line] = nodes_on_line.get(line, -1) + 1
        keyed.append(((variant, node_rank[node], position[line], site.order), site))
    return [site for _, site in sorted(keyed, key=lambda pair: pair[0])]


def _bit_reversed(value: int, width: int) -> int:
    return int(f"{value:0{width}b}"[::-1], 2)


class _Splicer:
    """Replaces one node's source text; ast columns are UTF-8 byte offsets, hence the bytes."""

    def __init__(self, source: str) -> None:
        self.data = source.encode()
        self.starts = [0]
        for line in self.data.split(b"\n")[:-1]:
            self.starts.append(self.starts[-1] + len(line) + 1)

    def mutate(self, site: Site) -> str | None:
        """The mutated source, or None: the change leaves the node as it was (`0` -> `0`, `return None` ->
        `None`: only a literal can be replaced by itself), or, inside an f-string, the node's recorded
        position does not hold its source (older parsers got some wrong there) or the replacement does not
        parse where it lands (a quote inside an f-string before Python 3.12)."""
        node, replacement = site.node, site.replacement
        if isinstance(node, ast.Constant) and isinstance(replacement, ast.Constant):
            if type(node.value) is type(replacement.value) and node.value == replacement.value:
                return None
        start, end = self._span(node)
        if site.fstring is not None and _dump(self.data[start:end].decode(), statement=False) != ast.dump(node):
            return None
        text = replacement_text(site).encode()
        mutated = self.data[:start] + text + self.data[end:]
        if site.fstring is not None:
            outer_start, outer_end = self._span(site.fstring)
            region = mutated[outer_start : outer_end + len(text) - (end - start)].decode()
            if _dump(region, statement=False) is None:
                return None
        return mutated.decode()

    def _span(self, node: ast.AST) -> tuple[int, int]:
        return self.starts[node.lineno - 1] + node.col_offset, self.starts[node.end_lineno - 1] + node.end_col_offset


def _dump(text: str, *, statement: bool) -> str | None:
    """The tree of a statement, or of an expression (bare: the dump of the node itself), or None."""
    try:
        if statement:
            [parsed] = ast.parse(text).body
            return ast.dump(parsed)
        return ast.dump(ast.parse(f"({text})", mode="eval").body)
    except (SyntaxError, ValueError, MemoryError, RecursionError):
        return None


def operators_of(mutants: Iterable[Mutant]) -> dict[str, int]:
    """How many mutants each operator made, in the operators' order."""
    counts = {op: 0 for op in OPERATORS}
    for mutant in mutants:
        counts[mutant.operator] += 1
    return {op: n for op, n in counts.items() if n}
