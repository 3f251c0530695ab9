"""What an `annotate` job reads and writes: a stored task to answer, and the answer that replaces what it had.

Pure data. The store hands out `AnnotateItem`s, `generators.annotate` turns them into `Answer`s (or rejections),
and the store writes each answer in the round's transaction, keeping what it replaced in `annotations`.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from domain.quality import Judgement
from domain.records import Instance

# Why a task is answered: it has no answer (an imported instruction), or its answer fails the model-free checks.
AnnotateReason = Literal["no_answer", "failed_checks"]
AnnotateTargets = Literal["no_answer", "failed_checks", "both"]


class AnnotateItem(msgspec.Struct, frozen=True, kw_only=True):
    """A stored task an annotate job may answer, with the answer it has now (none for `no_answer`)."""

    task_id: int
    instruction: str
    is_classification: bool
    reason: AnnotateReason
    previous: tuple[Instance, ...] = ()
    in_chat: bool = False  # a chat is kept whole with the task: its user turn is the instruction as it stands

    @property
    def keeps_input(self) -> bool:
        """Whether the answer is written to the input the task has: an answered task's input is the user's,
        and a chat's user turn holds none other. A task with neither gets a whole instance, input and all."""
        return bool(self.previous) or self.in_chat

    @property
    def given_input(self) -> str:
        return self.previous[0].input.strip() if self.previous else ""


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    """A new answer to a stored task and what wrote it."""

    task_id: int
    instruction: str
    reason: AnnotateReason
    instances: tuple[Instance, ...]
    model: str
    template: str  # the instance prompt's template
    quality_flags: list[dict[str, Any]] = msgspec.field(default_factory=list)  # the new answer's (record_only)
    judgement: Judgement | None = None  # stored in `judgements` with the answer, atomically
    notes: dict[str, Any] = msgspec.field(default_factory=dict)  # e.g. self-consistency's, kept in provenance
