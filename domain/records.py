"""The records that travel between generation and storage: a task about to be stored, and a rejection.

Pure data, no I/O. The generators make these; the store writes them; nothing re-parses them on the way.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.names import MAX_NAME_CHARS, NAME_DESCRIPTION, NAME_PATTERN
from domain.quality import Judgement, MutationScore

# Where a task came from: "seed" (uploaded seeds), "generated" (a job), or the source name of an import ("alpaca",
# "dolly-15k"): a `domain.names.Name` other than the two reserved ones. One column, so filters, the balance report
# and mixing recipes treat every origin alike.
Source = Annotated[
    str, Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=NAME_PATTERN, description=NAME_DESCRIPTION)
]
SEED_SOURCE = "seed"
GENERATED_SOURCE = "generated"
RESERVED_SOURCES = frozenset({SEED_SOURCE, GENERATED_SOURCE})
DEFAULT_CATEGORY = "uncategorized"
Role = Literal["user", "assistant"]


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


class Turn(msgspec.Struct, frozen=True, kw_only=True):
    role: Role
    content: str


class Conversation(msgspec.Struct, frozen=True, kw_only=True):
    """A whole chat kept with its task: every turn, alternating user/assistant from a user turn, and the system
    prompt it came with. The task's instruction and its one instance are the first exchange (what the Alpaca
    format and every check read); the chat formats render all of it."""

    turns: tuple[Turn, ...]
    system: str | None = None

    @property
    def exchanges(self) -> int:
        return sum(1 for turn in self.turns if turn.role == "assistant")


class NewTask(msgspec.Struct, frozen=True, kw_only=True):
    """A task about to enter a dataset: an instruction with its worked instances.

    Generated and seed tasks have at least one instance; an imported one may have none (an instruction with no
    answer yet, for an `annotate` job to answer): exports and snapshots render instances, so it is in none.
    """

    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool = False
    category: str = DEFAULT_CATEGORY
    provenance: dict[str, Any] = msgspec.field(default_factory=dict)
    code: CodeCheck | None = None  # code tasks: stored in `code_checks` with the task, atomically
    category_confidence: float | None = None  # how sure the labeller was of `category` (None: given by a person)
    judgement: Judgement | None = None  # stored in `judgements` with the task, atomically
    conversation: Conversation | None = None  # a multi-turn chat (or one with a system prompt), kept whole


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
