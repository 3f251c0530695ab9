from __future__ import annotations

import anyio
from litestar import Controller, Request, get, post
from litestar.params import JSONBody

from domain.job_spec import JobSpec
from service.bodies import strict_body
from service.dependencies import SettingsDep, StoreDep
from service.engine_holder import check_engine_choice
from service.errors import ERROR_RESPONSES
from service.paging import id_cursor, page_size
from service.params import DatasetIdFilter, JobCursor, JobId, PageLimit
from service.schemas import JobList, JobOut
from store import Store
from store.jobs import JobRecord, create_job, get_job, job_rejections, list_jobs, request_cancel


def job_out(store: Store, job: JobRecord) -> JobOut:
    return JobOut.of(job, job_rejections(store, job.id))


class JobController(Controller):
    path = "/jobs"
    tags = ["jobs"]

    @post("/", status_code=202, responses=ERROR_RESPONSES)
    async def create(self, request: Request, store: StoreDep, settings: SettingsDep, data: JSONBody[JobSpec]) -> JobOut:
        """Queue a generation job; 202 with its id. Jobs run one after another on the embedded engine."""
        spec = await strict_body(request, JobSpec)
        check_engine_choice(spec, settings.engine)
        job = await anyio.to_thread.run_sync(create_job, store, spec)
        request.app.state.worker.wake.set()
        return await anyio.to_thread.run_sync(job_out, store, job)

    @get("/", sync_to_thread=True, responses=ERROR_RESPONSES)
    def list(
        self, store: StoreDep, settings: SettingsDep, cursor: JobCursor = None, limit: PageLimit = None,
        dataset_id: DatasetIdFilter = None,
    ) -> JobList:  # fmt: skip
        size = page_size(limit, settings.limits)
        jobs = list_jobs(store, after=id_cursor(cursor, "job"), limit=size, dataset_id=dataset_id)
        return JobList(
            items=[job_out(store, j) for j in jobs[:size]], next=jobs[size - 1].id if len(jobs) > size else None
        )

    @get("/{job_id:str}", sync_to_thread=True, responses=ERROR_RESPONSES)
    def read(self, store: StoreDep, job_id: JobId) -> JobOut:
        return job_out(store, get_job(store, job_id))

    @post("/{job_id:str}/cancel", status_code=202, sync_to_thread=True, responses=ERROR_RESPONSES)
    def cancel(self, store: StoreDep, job_id: JobId) -> JobOut:
        """A queued job is cancelled at once; a running one after its current round."""
        return job_out(store, request_cancel(store, job_id))
