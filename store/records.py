"""Typed records that cross the store's boundary. Pure data: no I/O here."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

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


class NewTask(msgspec.Struct, frozen=True, kw_only=True):
    """A task about to enter a dataset: an instruction with at least one worked instance."""

    instruction: str
    instances: tuple[Instance, ...]
    is_classification: bool = False
    category: str = DEFAULT_CATEGORY
    provenance: dict[str, Any] = msgspec.field(default_factory=dict)
    code: CodeCheck | None = None  # code tasks: stored in `code_checks` with the task, atomically


class TaskRecord(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    instruction: str
    source: Source
    category: str
    is_classification: bool
    instances: tuple[Instance, ...]
    provenance: dict[str, Any]
    created_at: datetime
    code: CodeCheck | None = None


class Dataset(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    created_at: datetime
    tasks: int
    instances: int


class RecordFilter(msgspec.Struct, frozen=True, kw_only=True):
    """Which tasks of a dataset a listing or an export covers; None means any."""

    source: Source | None = None
    category: str | None = None
    is_classification: bool | None = None


class AddResult(msgspec.Struct, frozen=True, kw_only=True):
    received: int
    added: int
    instances_added: int
    duplicates_skipped: int
    # 1-based positions in the submitted batch that were exact duplicates (first 100 only).
    duplicate_positions: tuple[int, ...]


class TaskPage(msgspec.Struct, frozen=True, kw_only=True):
    items: tuple[TaskRecord, ...]
    next_after: int | None  # the last id of this page when another page follows


class DatasetPage(msgspec.Struct, frozen=True, kw_only=True):
    items: tuple[Dataset, ...]
    next_after: str | None
