from __future__ import annotations

import secrets
from typing import Annotated

import anyio
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Stream
from msgspec import Meta

from service.dependencies import SettingsDep, StoreDep
from service.errors import CodedHTTPException
from service.paging import page_size, task_cursor
from service.schemas import NearDuplicateSeed, RecordList, RecordOut, SeedUploadOut
from service.settings import LimitsSettings
from service.streaming import prefetch
from store import Store
from store.balance import BalanceReport, balance_report
from store.datasets import dataset_size, ensure_dataset
from store.export import ExportFormat, open_export
from store.near_duplicates import load_near_duplicate_index
from store.records import RecordFilter, Source
from store.seed_formats import SeedLimits, UploadKind, parse_seed_upload
from store.stats import DatasetStats, dataset_report
from store.tasks import add_tasks, page_tasks

_JSONL_TYPES = {
    "application/x-ndjson",
    "application/jsonl",
    "application/json-lines",
    "application/jsonlines",
    "application/x-jsonlines",
    "text/jsonl",
}


def upload_kind(content_type: str, body: bytes) -> UploadKind:
    """JSON Lines or a JSON array, by media type; sniffed only when the client named none."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type in _JSONL_TYPES:
        return "jsonl"
    if media_type == "application/json":
        return "json"
    if media_type in ("", "text/plain", "application/octet-stream"):
        return "json" if body.lstrip()[:1] == b"[" else "jsonl"
    raise CodedHTTPException(
        415, "unsupported_media_type", f"seeds must be application/x-ndjson or application/json, not {media_type}"
    )


def _store_seeds(
    store: Store, limits: LimitsSettings, dataset_id: str, body: bytes, content_type: str
) -> SeedUploadOut:
    ensure_dataset(store, dataset_id)  # 404 before any parsing work
    seed_limits = SeedLimits(
        max_instruction_chars=limits.max_instruction_chars,
        max_text_chars=limits.max_text_chars,
        max_instances=limits.max_instances_per_task,
    )
    upload_id = f"up_{secrets.token_hex(8)}"
    parsed = parse_seed_upload(body, upload_kind(content_type, body), seed_limits, upload_id)
    near = _near_duplicate_seeds(store, limits, dataset_id, [task.instruction for task in parsed])
    result = add_tasks(store, dataset_id, parsed, source="seed", stage="seed_upload")
    return SeedUploadOut(
        dataset_id=dataset_id,
        upload_id=upload_id,
        received=result.received,
        added=result.added,
        instances_added=result.instances_added,
        duplicates_skipped=result.duplicates_skipped,
        duplicate_positions=list(result.duplicate_positions),
        near_duplicates=None if near is None else len(near),
        near_duplicate_examples=(near or [])[:_MAX_REPORTED],
    )


_MAX_REPORTED = 100


def _near_duplicate_seeds(
    store: Store, limits: LimitsSettings, dataset_id: str, instructions: list[str]
) -> list[NearDuplicateSeed] | None:
    """Seeds close to a stored task or an earlier seed, greedy in order as jobs check candidates.

    Exact duplicates are the fingerprint's business (skipped and counted apart). None when the dataset
    plus the upload pass `seed_near_duplicate_check_max`: the check then costs more than an upload should.
    """
    stored = dataset_size(store, dataset_id)
    if stored + len(instructions) > limits.seed_near_duplicate_check_max:
        return None
    index = load_near_duplicate_index(store, dataset_id, limits.near_duplicate_threshold)
    found = []
    for position, text in enumerate(instructions, start=1):
        near, score, match = index.is_near_duplicate(text)
        if near and match is not None and score < 1.0:  # 1.0: the same words, an exact duplicate's case
            found.append(NearDuplicateSeed(position=position, instruction=text, match=match, rouge_l=round(score, 4)))
        index.add(text)
    return found


def record_filter(source: Source | None, category: str | None, classification: bool | None) -> RecordFilter:
    return RecordFilter(
        source=source, category=category.strip().lower() if category else None, is_classification=classification
    )


class RecordController(Controller):
    path = "/datasets/{dataset_id:str}"
    tags = ["records"]

    @post("/seeds", status_code=200)
    async def upload_seeds(
        self, store: StoreDep, settings: SettingsDep, request: Request, dataset_id: FromPath[str]
    ) -> SeedUploadOut:
        """Add seed tasks (self-instruct or Alpaca records) as JSON Lines (application/x-ndjson) or a JSON array.

        All or nothing: one bad line rejects the whole upload with every bad line's number and reason.
        """
        body = await request.body()  # bounded by request_max_body_size: 413 beyond it
        content_type = request.headers.get("content-type", "")
        return await anyio.to_thread.run_sync(_store_seeds, store, settings.limits, dataset_id, body, content_type)

    @get("/records", sync_to_thread=True)
    def records(
        self,
        store: StoreDep,
        settings: SettingsDep,
        dataset_id: FromPath[str],
        cursor: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None,
        source: FromQuery[Source | None] = None,
        category: FromQuery[str | None] = None,
        classification: FromQuery[bool | None] = None,
    ) -> RecordList:
        page = page_tasks(
            store,
            dataset_id,
            record_filter(source, category, classification),
            after=task_cursor(cursor),
            limit=page_size(limit, settings.limits),
        )
        return RecordList(
            items=[RecordOut.of(t) for t in page.items], next=None if page.next_after is None else str(page.next_after)
        )

    @get("/stats", sync_to_thread=True)
    def stats(
        self, store: StoreDep, settings: SettingsDep, dataset_id: FromPath[str], balance: FromQuery[bool] = True
    ) -> DatasetStats:
        """Counts, lengths, rejections by reason, the balance report and (code datasets) the sandbox's verdicts."""
        return dataset_report(store, dataset_id, share_limit=settings.limits.balance_share_limit, with_balance=balance)

    @get("/balance", sync_to_thread=True)
    def balance(
        self, store: StoreDep, settings: SettingsDep, dataset_id: FromPath[str],
        share_limit: FromQuery[Annotated[float, Meta(gt=0, le=1)] | None] = None,
    ) -> BalanceReport:  # fmt: skip
        """The balance report alone, with the verb analysis over a larger sample (20,000 instructions)."""
        return balance_report(store, dataset_id, share_limit=share_limit or settings.limits.balance_share_limit)

    @get("/export", sync_to_thread=True)
    def export(
        self,
        store: StoreDep,
        settings: SettingsDep,
        dataset_id: FromPath[str],
        export_format: Annotated[ExportFormat, QueryParameter(name="format")] = "alpaca",
        source: FromQuery[Source | None] = None,
        category: FromQuery[str | None] = None,
        classification: FromQuery[bool | None] = None,
    ) -> Stream:
        """The dataset as JSON Lines, streamed in constant memory; one line per instance."""
        chunks = open_export(
            store,
            dataset_id,
            export_format,
            record_filter(source, category, classification),
            page_chars=settings.limits.export_page_chars,
        )
        filename = f"{dataset_id}-{export_format}.jsonl"
        return Stream(
            prefetch(chunks),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
