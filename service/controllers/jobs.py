from __future__ import annotations

import hashlib
import re
from functools import partial
from typing import Annotated

import anyio
import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter, JSONBody
from litestar.response import ServerSentEvent

from domain.job_spec import JobSpec
from service.bodies import strict_body
from service.dependencies import SettingsDep, StoreDep
from service.engine_holder import EngineHolder, check_engine_choice
from service.errors import CodedHTTPException, error_responses
from service.events import job_events
from service.paging import id_cursor, page_size
from service.params import DatasetIdFilter, JobCursor, JobId, PageLimit
from service.schemas import JobList, JobOut, WebhookDeliveryList, WebhookDeliveryOut
from store import Store
from store.jobs import (
    JobRecord,
    create_job,
    create_job_once,
    get_job,
    job_rejections,
    list_jobs,
    request_cancel,
)  # fmt: skip
from store.webhooks import job_deliveries

IDEMPOTENCY_KEY_MAX_CHARS = 200
_IDEMPOTENCY_KEY = re.compile(rf"[\x20-\x7e]{{1,{IDEMPOTENCY_KEY_MAX_CHARS}}}")  # printable ASCII
# Documented here, checked by `checked_idempotency_key`: a bad key is a 400 with its own code.
IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(
        name="Idempotency-Key", required=False,
        description="1 to 200 printable ASCII characters; a retry with the same key and body answers the same job",
    ),
]  # fmt: skip


def job_out(store: Store, job: JobRecord, engine: EngineHolder | None = None) -> JobOut:
    """The job as answers show it; with the engine, an unfinished job also says why it waits (`waiting_for`)."""
    return JobOut.of(job, job_rejections(store, job.id), engine.waiting_for() if engine is not None else None)


def read_job_out(store: Store, job_id: str, engine: EngineHolder | None = None) -> JobOut:
    return job_out(store, get_job(store, job_id), engine)


def checked_idempotency_key(key: str | None) -> str | None:
    """The `Idempotency-Key` header, if sent: 1 to 200 printable ASCII characters, else a 400."""
    if key is not None and not _IDEMPOTENCY_KEY.fullmatch(key):
        raise CodedHTTPException(
            400, "invalid_idempotency_key",
            f"Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX_CHARS} printable ASCII characters",
        )  # fmt: skip
    return key


def request_sha256(spec: JobSpec) -> str:
    """What makes two requests the same: the validated spec, not its JSON's spacing or key order."""
    return hashlib.sha256(msgspec.json.encode(spec, order="sorted")).hexdigest()


_CREATE_RESPONSES = {
    **error_responses(400, 401, 404, 409, 413, 503),
    200: ResponseSpec(JobOut, description="a retry: the job this Idempotency-Key made (Idempotent-Replayed: true)"),
}
_EVENTS_RESPONSES = {
    **error_responses(400, 401, 404),
    200: ResponseSpec(
        str, media_type="text/event-stream", generate_examples=False,
        description="server-sent events `status`, `progress` and `end`, each with the job as data (service.events)",
    ),
}  # fmt: skip


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post("/", status_code=202, responses=_CREATE_RESPONSES)
    async def create(
        self, request: Request, store: StoreDep, settings: SettingsDep, data: JSONBody[JobSpec],
        idempotency_key: IdempotencyKey = None,
    ) -> Response[JobOut]:  # fmt: skip
        """Queue a generation job; 202 with its id. Jobs run one after another on the embedded engine.

        With an `Idempotency-Key` header, a retry (same key, same body) answers 200 with the job the key made
        and `Idempotent-Replayed: true`, starting nothing; the same key with another body is a 409. Keys are
        global (not per API key) and kept for good.
        """
        key = checked_idempotency_key(idempotency_key)
        spec = check_engine_choice(await strict_body(request, JobSpec), settings.engine)  # endpoints in normal form
        engine: EngineHolder = request.app.state.engine
        if engine.status == "failed":  # no job could start: say so now, not by failing it later
            raise CodedHTTPException(503, "engine_failed", f"no job can start: {engine.waiting_for()}")
        if key is None:
            job, replayed = await anyio.to_thread.run_sync(create_job, store, spec), False
        else:
            job, replayed = await anyio.to_thread.run_sync(create_job_once, store, spec, key, request_sha256(spec))
        if replayed:
            return Response(await anyio.to_thread.run_sync(job_out, store, job), status_code=200,
                            headers={"Idempotent-Replayed": "true"})  # fmt: skip
        request.app.state.worker.wake.set()
        return Response(await anyio.to_thread.run_sync(job_out, store, job, engine), status_code=202)

    @get("/", sync_to_thread=True, responses=error_responses(400, 401))
    def list(
        self, request: Request, store: StoreDep, settings: SettingsDep, cursor: JobCursor = None,
        limit: PageLimit = None, dataset_id: DatasetIdFilter = None,
    ) -> JobList:  # fmt: skip
        size = page_size(limit, settings.limits)
        jobs = list_jobs(store, after=id_cursor(cursor, "job"), limit=size, dataset_id=dataset_id)
        engine = request.app.state.engine
        return JobList(
            items=[job_out(store, j, engine) for j in jobs[:size]],
            next=jobs[size - 1].id if len(jobs) > size else None,
        )

    @get("/{job_id:str}", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def read(self, request: Request, store: StoreDep, job_id: JobId) -> JobOut:
        return read_job_out(store, job_id, request.app.state.engine)

    @get("/{job_id:str}/events", responses=_EVENTS_RESPONSES)
    async def events(self, request: Request, store: StoreDep, job_id: JobId) -> ServerSentEvent:
        """The job's changes as server-sent events: `status` first, `progress`, then one `end` (service.events)."""
        await anyio.to_thread.run_sync(get_job, store, job_id)  # an unknown job: a 404, before any stream
        return ServerSentEvent(job_events(partial(read_job_out, store, job_id, request.app.state.engine)))

    @get("/{job_id:str}/webhook-deliveries", sync_to_thread=True, responses=error_responses(400, 401, 404))
    def webhook_deliveries(self, store: StoreDep, job_id: JobId) -> WebhookDeliveryList:
        """Every attempt to deliver the job's webhook events, oldest first (service.webhooks)."""
        get_job(store, job_id)
        return WebhookDeliveryList(
            items=[WebhookDeliveryOut(**msgspec.structs.asdict(d)) for d in job_deliveries(store, job_id)]
        )

    @post("/{job_id:str}/cancel", status_code=202, sync_to_thread=True, responses=error_responses(400, 401, 404, 409))
    def cancel(self, store: StoreDep, job_id: JobId) -> JobOut:
        """A queued job is cancelled at once; a running one after its current round."""
        return job_out(store, request_cancel(store, job_id))
