from __future__ import annotations

from typing import Annotated

import anyio
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import QueryParameter
from litestar.response import Stream

from domain.names import check_name
from domain.records import Source
from service.bodies import upload_kind
from service.dependencies import SettingsDep, StoreDep
from service.errors import error_responses
from service.labels import label_report
from service.openapi import ExportOperation, SeedUploadOperation
from service.paging import page_size, task_cursor
from service.params import (
    CategoryFilter,
    ClassificationFilter,
    DatasetId,
    MinQualityFilter,
    PageLimit,
    ShareLimit,
    SourceFilter,
    TaskCursor,
    WithBalance,
)
from service.schemas import RecordList, RecordOut
from service.settings import LimitsSettings
from service.streaming import prefetch
from store import Store
from store.balance.report import BalanceReport, balance_report
from store.dedup.shared_screen import ScreenCache
from store.export import ExportFormat, open_export
from store.ingest.formats import SeedLimits
from store.ingest.seeds import NearDuplicateCheck, SeedReport, ingest_seeds
from store.records import RecordFilter
from store.stats import DatasetStats, dataset_report
from store.tasks import page_tasks


def _ingest(
    store: Store, screens: ScreenCache, limits: LimitsSettings, dataset_id: str, body: bytes, content_type: str
) -> SeedReport:
    seed_limits = SeedLimits(
        max_instruction_chars=limits.max_instruction_chars,
        max_text_chars=limits.max_text_chars,
        max_instances=limits.max_instances_per_task,
    )
    check = NearDuplicateCheck(
        threshold=limits.near_duplicate_threshold, max_tasks=limits.seed_near_duplicate_check_max
    )
    screen = lambda: screens.view(store, dataset_id, check.threshold)[0]  # noqa: E731 - built only when checked
    kind = upload_kind(content_type, body)
    return ingest_seeds(store, dataset_id, body, kind, seed_limits, check, screen=screen)


def record_filter(
    source: Source | None, category: str | None, classification: bool | None, min_quality: float | None = None
) -> RecordFilter:
    return RecordFilter(
        source=check_name(source, "source") if source is not None else None,
        category=category.strip().lower() if category else None, is_classification=classification,
        min_quality=min_quality,
    )  # fmt: skip


class RecordController(Controller):
    path = "/datasets/{dataset_id:str}"
    tags = ["records"]

    @post(
        "/seeds",
        status_code=200,
        responses=error_responses(400, 401, 404, 413, 415),
        operation_class=SeedUploadOperation,
    )
    async def upload_seeds(
        self, store: StoreDep, settings: SettingsDep, request: Request, dataset_id: DatasetId
    ) -> SeedReport:
        """Add seed tasks (self-instruct or Alpaca records) as JSON Lines (application/x-ndjson) or a JSON array.

        All or nothing: one bad line rejects the whole upload with every bad line's number and reason.
        """
        body = await request.body()  # bounded by request_max_body_size: 413 beyond it
        content_type = request.headers.get("content-type", "")
        screens = request.app.state.screens
        return await anyio.to_thread.run_sync(_ingest, store, screens, settings.limits, dataset_id, body, content_type)

    @get("/records", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def records(
        self,
        store: StoreDep,
        settings: SettingsDep,
        dataset_id: DatasetId,
        cursor: TaskCursor = None,
        limit: PageLimit = None,
        source: SourceFilter = None,
        category: CategoryFilter = None,
        classification: ClassificationFilter = None,
        min_quality: MinQualityFilter = None,
    ) -> RecordList:
        page = page_tasks(
            store,
            dataset_id,
            record_filter(source, category, classification, min_quality),
            after=task_cursor(cursor),
            limit=page_size(limit, settings.limits),
        )
        return RecordList(
            items=[RecordOut.of(t) for t in page.items], next=None if page.next_after is None else str(page.next_after)
        )

    @get("/stats", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def stats(
        self, store: StoreDep, settings: SettingsDep, dataset_id: DatasetId, balance: WithBalance = True
    ) -> DatasetStats:
        """Counts, lengths, rejections by reason, the balance report with the labels' accuracy beside it, the
        judge's scores, and (code datasets) the sandbox's verdicts and the strength of the tests."""
        report = dataset_report(
            store, dataset_id, share_limit=settings.limits.balance_share_limit, with_balance=balance
        )
        return msgspec.structs.replace(report, labels=label_report(store, dataset_id)) if balance else report

    @get("/balance", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def balance(
        self, store: StoreDep, settings: SettingsDep, dataset_id: DatasetId,
        share_limit: ShareLimit = None,
    ) -> BalanceReport:  # fmt: skip
        """The balance report alone, with the verb analysis over a larger sample (20,000 instructions)."""
        return balance_report(store, dataset_id, share_limit=share_limit or settings.limits.balance_share_limit)

    @get(
        "/export",
        sync_to_thread=True,
        responses=error_responses(400, 401, 404),
        media_type="application/x-ndjson",
        operation_class=ExportOperation,
    )
    def export(
        self,
        store: StoreDep,
        settings: SettingsDep,
        dataset_id: DatasetId,
        export_format: Annotated[ExportFormat, QueryParameter(name="format")] = "alpaca",
        source: SourceFilter = None,
        category: CategoryFilter = None,
        classification: ClassificationFilter = None,
        min_quality: MinQualityFilter = None,
    ) -> Stream:
        """The dataset as JSON Lines, streamed in constant memory; one line per answered instance.

        `X-Conversations-Cut` says how many multi-turn records the format cut to their first exchange (alpaca).
        """
        chunks = open_export(
            store,
            dataset_id,
            export_format,
            record_filter(source, category, classification, min_quality),
            page_chars=settings.limits.export_page_chars,
        )
        filename = f"{dataset_id}-{export_format}.jsonl"
        return Stream(
            prefetch(chunks),
            media_type="application/x-ndjson",
            headers={"Content-Disposition": f'attachment; filename="{filename}"',
                     "X-Conversations-Cut": str(chunks.conversations_cut)},  # fmt: skip
        )
