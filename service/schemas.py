"""Request and response bodies of the HTTP API (separate from the store's records on purpose)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from generators.code_tasks import CodeConfig
from generators.engine import Sampling
from generators.filters import InstructionRules
from generators.self_instruct import SelfInstructConfig
from store.records import Dataset, Source, TaskRecord

DatasetName = Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]


class DatasetCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: DatasetName
    description: Annotated[str, Meta(max_length=2000)] = ""


class DatasetOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    created_at: datetime
    tasks: int
    instances: int

    @classmethod
    def of(cls, dataset: Dataset) -> DatasetOut:
        return cls(**msgspec.structs.asdict(dataset))


class DatasetList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[DatasetOut]
    next: str | None


class InstanceOut(msgspec.Struct, frozen=True, kw_only=True):
    input: str
    output: str


class CodeCheckOut(msgspec.Struct, frozen=True, kw_only=True):
    entry_point: str
    solution: str
    tests: list[str]
    status: str
    tests_passed: int
    tests_total: int
    duration_s: float
    error: str | None


class RecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    instruction: str
    source: Source
    category: str
    is_classification: bool
    instances: list[InstanceOut]
    provenance: dict[str, Any]
    created_at: datetime
    code: CodeCheckOut | None = None  # code tasks: the solution, its tests and the sandbox run that passed

    @classmethod
    def of(cls, task: TaskRecord) -> RecordOut:
        return cls(
            id=str(task.id),
            instruction=task.instruction,
            source=task.source,
            category=task.category,
            is_classification=task.is_classification,
            instances=[InstanceOut(input=i.input, output=i.output) for i in task.instances],
            provenance=task.provenance,
            created_at=task.created_at,
            code=None if task.code is None else CodeCheckOut(**msgspec.structs.asdict(task.code)),
        )


class RecordList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RecordOut]
    next: str | None


class SeedUploadOut(msgspec.Struct, frozen=True, kw_only=True):
    dataset_id: str
    upload_id: str
    received: int
    added: int
    instances_added: int
    duplicates_skipped: int
    duplicate_positions: list[int]  # 1-based lines (JSONL) or items (JSON array), first 100
    # Seeds are reported, not rejected, when they nearly duplicate (ROUGE-L above the threshold) a task
    # already in the dataset or an earlier seed of the upload. None: not checked (dataset too large).
    near_duplicates: int | None
    near_duplicate_examples: list[NearDuplicateSeed]  # first 100


class NearDuplicateSeed(msgspec.Struct, frozen=True, kw_only=True):
    position: int
    instruction: str
    match: str
    rouge_l: float


class EngineStatus(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    detail: str


class HealthOut(msgspec.Struct, frozen=True, kw_only=True):
    status: str
    version: str
    database: str
    engine: EngineStatus


class JobCreate(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    dataset_id: str
    method: Literal["self_instruct", "code"] = "self_instruct"
    target: Annotated[int, Meta(ge=1, le=1_000_000)]
    seed: Annotated[int, Meta(ge=0, le=2**31 - 1)] = 0
    sampling: Sampling = Sampling()
    config: SelfInstructConfig = SelfInstructConfig()  # self_instruct jobs
    code: CodeConfig = CodeConfig()  # code jobs
    rules: InstructionRules = InstructionRules()
    model: str | None = None  # remote engines: the model to ask for; embedded: must be the served one
    endpoints: list[str] | None = None  # remote engines: a subset of the configured endpoints
    # self_instruct: target shares per category (normalised); prompts favour the categories that lag
    category_targets: (
        dict[Annotated[str, Meta(min_length=1, max_length=64)], Annotated[float, Meta(gt=0, le=1)]] | None
    ) = None


class JobOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    method: str
    status: str
    target: int
    accepted: int
    progress: dict[str, Any]
    rejections_by_reason: dict[str, int]
    stop_reason: str | None
    error: str | None
    params: dict[str, Any]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[JobOut]
    next: str | None
