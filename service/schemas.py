"""Request and response bodies of the HTTP API (separate from the store's records on purpose)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.job_spec import JobProgress, JobSpec, Webhook
from domain.names import Name
from domain.quality import Judgement, MutationScore
from domain.records import Conversation, Source
from domain.redaction import REDACTED, redact_url
from generators.fleet import EndpointLoad
from service.openapi import COUNTS_DOC, MANIFEST_DOC, PROVENANCE_DOC
from store.imports import ImportRecord
from store.jobs import JobRecord
from store.records import Dataset, TaskRecord
from store.snapshots.snapshot import SNAPSHOT_DOCUMENTS, Snapshot

DatasetName = Name  # one pattern for every name (domain.names)


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
    strength: MutationScore | None  # the mutation score of the tests, when measured


class RecordOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    instruction: str
    source: Source
    category: str
    is_classification: bool
    instances: list[InstanceOut]
    provenance: Annotated[dict[str, Any], PROVENANCE_DOC]  # the stored document; its keys in the schema
    created_at: datetime
    code: CodeCheckOut | None = None  # code tasks: the solution, its tests and the sandbox run that passed
    category_confidence: float | None = None  # generated labels: how sure the labeller was
    judgement: Judgement | None = None  # the latest judge reading (its score is the task's quality)
    # A whole chat (imports of ShareGPT / messages files): every turn; `instruction` and `instances` are its first
    # exchange. A record with no instances has no answer yet (an `annotate` job writes one).
    conversation: Conversation | None = None

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
            category_confidence=task.category_confidence,
            judgement=task.judgement,
            conversation=task.conversation,
        )


class ImportList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ImportRecord]  # a dataset's imports, oldest first


class RecordList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[RecordOut]
    next: str | None


class EngineStatus(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["not_configured", "starting", "ready", "failed"]
    detail: str
    endpoints: list[EndpointLoad] = []  # each endpoint's adaptive limit and load, once used


class HealthOut(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ok"]


class ReadyOut(msgspec.Struct, frozen=True, kw_only=True):
    status: Literal["ready"]


class JobOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    method: str
    status: str
    target: int
    accepted: int
    progress: JobProgress
    rejections_by_reason: dict[str, int]
    stop_reason: str | None
    error: str | None
    params: JobSpec
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
    # Why an unfinished job waits, read live (not stored): "engine starting: <detail>" while the engine starts.
    waiting_for: str | None = None

    @classmethod
    def of(cls, job: JobRecord, rejections_by_reason: dict[str, int], waiting_for: str | None = None) -> JobOut:
        return cls(
            id=job.id, dataset_id=job.dataset_id, method=job.method, status=job.status, target=job.spec.target,
            accepted=job.accepted, progress=job.progress, rejections_by_reason=rejections_by_reason,
            stop_reason=job.stop_reason, error=job.error, params=public_spec(job.spec), created_at=job.created_at,
            started_at=job.started_at, finished_at=job.finished_at, updated_at=job.updated_at,
            waiting_for=waiting_for if job.status in ("queued", "running") else None,
        )  # fmt: skip


def public_spec(spec: JobSpec) -> JobSpec:
    """The spec as answers show it: endpoint and webhook URLs without their credentials, no webhook secret."""
    if spec.webhook is not None:
        webhook = Webhook(url=redact_url(spec.webhook.url), secret=REDACTED)
        spec = msgspec.structs.replace(spec, webhook=webhook)
    if spec.judge.endpoints is not None:
        judge = msgspec.structs.replace(spec.judge, endpoints=[redact_url(e) for e in spec.judge.endpoints])
        spec = msgspec.structs.replace(spec, judge=judge)
    if spec.endpoints is None:
        return spec
    return msgspec.structs.replace(spec, endpoints=[redact_url(e) for e in spec.endpoints])


class JobList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[JobOut]
    next: str | None


class WebhookDeliveryOut(msgspec.Struct, frozen=True, kw_only=True):
    """One attempt to deliver one of a job's webhook events (`event_id`: the same in every retry)."""

    event_id: int
    event: Literal["status", "end"]
    attempt: int
    status_code: int | None  # None: no answer; `error` says why
    error: str | None
    duration_s: float
    attempted_at: datetime


class WebhookDeliveryList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[WebhookDeliveryOut]


class SnapshotFileOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    sha256: str
    records: int
    bytes: int
    url: str


class SnapshotDocumentOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    url: str


class SnapshotOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    number: int
    format: str
    created_at: datetime
    content_sha256: str
    files: list[SnapshotFileOut]  # the data, with the hashes the manifest holds
    documents: list[SnapshotDocumentOut]  # manifest, LLaMA-Factory entry, data card: with `files`, the folder
    counts: Annotated[dict[str, Any], COUNTS_DOC]
    manifest: Annotated[dict[str, Any], MANIFEST_DOC]  # manifest.json as stored, its shape documented

    @classmethod
    def of(cls, snapshot: Snapshot) -> SnapshotOut:
        manifest = snapshot.manifest
        files = [
            SnapshotFileOut(name=name, url=f"/v1/snapshots/{snapshot.id}/files/{name}", **entry)
            for name, entry in manifest["files"].items()
        ]
        documents = [SnapshotDocumentOut(name=name, url=f"/v1/snapshots/{snapshot.id}/files/{name}")
                     for name in SNAPSHOT_DOCUMENTS]  # fmt: skip
        return cls(id=snapshot.id, dataset_id=snapshot.dataset_id, number=snapshot.number, format=snapshot.format,
                   created_at=snapshot.created_at, content_sha256=manifest["content_sha256"], files=files,
                   documents=documents, counts=manifest["counts"], manifest=manifest)  # fmt: skip


class SnapshotList(msgspec.Struct, frozen=True, kw_only=True):
    items: list[SnapshotOut]
