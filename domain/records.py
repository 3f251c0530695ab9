"""The records that travel between generation and storage: a task about to be stored, and a rejection.

Pure data, no I/O. The generators make these; the store writes them; nothing re-parses them on the way.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from domain.quality import Judgement, MutationScore

Source = Literal["seed", "generated"]
DEFAULT_CATEGORY = "uncategorized"


class Instance(msgspec.Struct, frozen=True, kw_only=True):
    input: str = ""
    output: str


class CodeCheck(msgspec.Struct, frozen=True, kw_only=True):
    """The sandbox run that proved a code task's solution: its tests and what running them gave."""

    entry_point: str
    solution: str
    tests: tuple[str, ...]
    status: str
    tests_passed: int
    tests_total: int
    duration_s: float
    error: str | None = None
    strength: MutationScore | None = None  # mutation score of the tests, when it was measured


class NewTask(msgspec.Struct, frozen=True, kw_only=True):
    """A task about to enter a dataset: an instruction with at least one worked instance."""

    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool = False
    category: str = DEFAULT_CATEGORY
    provenance: dict[str, Any] = msgspec.field(default_factory=dict)
    code: CodeCheck | None = None  # code tasks: stored in `code_checks` with the task, atomically
    category_confidence: float | None = None  # how sure the labeller was of `category` (None: given by a person)
    judgement: Judgement | None = None  # stored in `judgements` with the task, atomically


class Rejection(msgspec.Struct, frozen=True, kw_only=True):
    """A candidate that was not kept, and why: every one is stored, none is dropped silently."""

    reason: str
    instruction: str
    detail: dict[str, Any] = msgspec.field(default_factory=dict)


class Example(msgspec.Struct, frozen=True, kw_only=True):
    """A worked task shown to the model in a few-shot prompt: its instruction and one instance."""

    instruction: str
    input: str
    output: str
    is_classification: bool = False


class CodeExample(msgspec.Struct, frozen=True, kw_only=True):
    """A worked code task: what the code method shows the model, and what a parsed candidate becomes."""

    instruction: str
    entry_point: str
    solution: str
    tests: tuple[str, ...]


class StoredCodeExample(msgspec.Struct, frozen=True, kw_only=True):
    example: CodeExample
    source: Source
