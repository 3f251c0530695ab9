"""Typed records the store answers with (tasks as stored, datasets, pages, filters). Pure data: no I/O here."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from domain.quality import Judgement
from domain.records import CodeCheck, Conversation, Instance, Source


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
    category_confidence: float | None = None
    judgement: Judgement | None = None  # the latest judgement of the task, if it was judged
    conversation: Conversation | None = None  # the whole chat, when one was kept (imports)


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
    min_quality: float | None = None  # only tasks whose current judge score is at least this


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
