from __future__ import annotations

import anyio
import msgspec
from litestar import Controller, Request, get, post
from litestar.params import FromPath, FromQuery, JSONBody

from service.dependencies import SettingsDep, StoreDep
from service.paging import page_size
from service.schemas import JobCreate, JobList, JobOut
from service.settings import EngineSettings
from store import Store
from store.errors import ConflictError, InvalidInputError
from store.jobs import JobRecord, create_job, get_job, job_rejections, list_jobs, request_cancel


def job_out(store: Store, job: JobRecord) -> JobOut:
    return JobOut(
        id=job.id,
        dataset_id=job.dataset_id,
        method=job.method,
        status=job.status,
        target=job.params["target"],
        accepted=job.accepted,
        progress=job.progress,
        rejections_by_reason=job_rejections(store, job.id),
        stop_reason=job.stop_reason,
        error=job.error,
        params=job.params,
        created_at=job.created_at,
        started_at=job.started_at,
        finished_at=job.finished_at,
        updated_at=job.updated_at,
    )


def check_engine_choice(data: JobCreate, engine: EngineSettings) -> None:
    """Jobs need an engine; a job may narrow the configured endpoints, never add one (no SSRF)."""
    if engine.kind == "none":
        raise ConflictError("this service runs without a generation engine", code="engine_not_configured")
    if data.endpoints is not None:
        unknown = sorted(set(data.endpoints) - set(engine.endpoints))
        if engine.kind != "remote" or unknown or not data.endpoints:
            raise InvalidInputError(
                f"endpoints must be a non-empty subset of the configured remote endpoints; unknown: {unknown}",
                code="unknown_endpoint",
            )
    if engine.kind == "embedded" and data.model not in (None, engine.served_model_name):
        raise InvalidInputError(f"the embedded engine serves {engine.served_model_name!r} only", code="unknown_model")


def _create(store: Store, engine: EngineSettings, data: JobCreate) -> JobOut:
    check_engine_choice(data, engine)
    params = msgspec.structs.asdict(data)
    params.pop("dataset_id")
    params.pop("method")
    job = create_job(store, dataset_id=data.dataset_id, method=data.method, params=msgspec.to_builtins(params))
    return job_out(store, job)


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post("/", status_code=202)
    async def create(
        self, request: Request, store: StoreDep, settings: SettingsDep, data: JSONBody[JobCreate]
    ) -> JobOut:
        """Queue a generation job; 202 with its id. Jobs run one after another on the embedded engine."""
        job = await anyio.to_thread.run_sync(_create, store, settings.engine, data)
        request.app.state.worker.wake.set()
        return job

    @get("/", sync_to_thread=True)
    def list(
        self, store: StoreDep, settings: SettingsDep, cursor: FromQuery[str | None] = None,
        limit: FromQuery[int | None] = None, dataset_id: FromQuery[str | None] = None,
    ) -> JobList:  # fmt: skip
        size = page_size(limit, settings.limits)
        jobs = list_jobs(store, after=cursor, limit=size, dataset_id=dataset_id)
        return JobList(
            items=[job_out(store, j) for j in jobs[:size]], next=jobs[size - 1].id if len(jobs) > size else None
        )

    @get("/{job_id:str}", sync_to_thread=True)
    def read(self, store: StoreDep, job_id: FromPath[str]) -> JobOut:
        return job_out(store, get_job(store, job_id))

    @post("/{job_id:str}/cancel", status_code=202, sync_to_thread=True)
    def cancel(self, store: StoreDep, job_id: FromPath[str]) -> JobOut:
        """A queued job is cancelled at once; a running one after its current round."""
        return job_out(store, request_cancel(store, job_id))
