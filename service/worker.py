"""The job worker: runs every unfinished job at once, in rounds committed whole, resuming after any restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from functools import partial
from typing import Any

import anyio
import msgspec

from domain.job_spec import JobProgress
from domain.records import NewTask, Rejection
from domain.redaction import redact_text
from generators.engine import CompletionEngine
from generators.fleet import job_share
from generators.judge_stage import judge_round
from generators.rounds import RoundResult
from generators.sandbox import Sandbox
from service.engine_holder import EngineFailedError, EngineHolder
from service.job_run import JobRun
from service.logging_setup import bind_job_id
from service.methods import GenerationMethod, open_method
from store import Store
from store.dedup.shared_screen import ScreenCache
from store.jobs import JobRecord, commit_round, finish_job, get_job, mark_running, unfinished_jobs

log = logging.getLogger("instructforge.worker")
JOB_REREAD_S = 0.5  # how stale a waiting round start's view of its job may be (a cancel is seen this late)


def _progress(job: JobRecord, result: RoundResult, accepted: int, elapsed: float, mix: dict | None) -> JobProgress:
    before = job.progress
    stages = {k: before.stages.get(k, 0) + v for k, v in result.stages.items()}
    tokens = before.tokens + result.tokens
    rate = accepted / elapsed * 60 if elapsed > 0 else 0.0
    remaining = max(job.spec.target - accepted, 0)
    produced = result.accepted or result.judged or result.annotated  # tasks, judgements or answers
    return JobProgress(
        rounds=before.rounds + 1,
        rounds_without_accept=0 if produced else before.rounds_without_accept + 1,
        stages=stages,
        tokens=tokens,
        elapsed_s=round(elapsed, 1),
        tokens_per_s=round(tokens / elapsed, 1) if elapsed > 0 else 0.0,
        tasks_per_min=round(rate, 2),
        eta_s=round(remaining / rate * 60, 1) if rate > 0 else None,
        mix=mix,
    )


def _surplus_detail(task: NewTask) -> dict[str, Any]:
    """A passing code task beyond the target keeps its proof, so the pass rate counts it."""
    if task.code is None:
        return {}
    return {"code_status": task.code.status, "solution": task.code.solution, "tests": list(task.code.tests)}


class JobWorker:
    def __init__(
        self, store: Store, holder: EngineHolder, sandbox: Sandbox, screens: ScreenCache | None = None
    ) -> None:
        self.store = store
        self.screens = screens  # the service's shared duplicate screens (None: each job builds its own)
        self.holder = holder
        self.sandbox = sandbox
        self.wake = asyncio.Event()

    async def run(self) -> None:
        """Forever: wait for the engine, then run every unfinished job at once (up to `max_running_jobs`, the
        oldest first), a job posted meanwhile starting as soon as the worker is woken. Jobs share the
        endpoints by their weights (`generators.fleet`)."""
        await self._wait_for_engine()
        running: dict[str, asyncio.Task] = {}
        try:
            while True:
                self.wake.clear()
                jobs = await anyio.to_thread.run_sync(unfinished_jobs, self.store)
                for job in jobs:
                    if job.id not in running and len(running) < self.holder.settings.max_running_jobs:
                        running[job.id] = asyncio.create_task(self.run_job(job), name=f"job-{job.id}")
                woken = asyncio.ensure_future(self.wake.wait())
                await asyncio.wait([woken, *running.values()], timeout=5, return_when=asyncio.FIRST_COMPLETED)
                woken.cancel()
                running = {job_id: task for job_id, task in running.items() if not task.done()}
        finally:  # shutdown: the jobs stay running in the database and resume at the next start
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)

    async def _wait_for_engine(self) -> None:
        """Until the engine is ready. Once it has failed for good, every unfinished job fails with the reason
        (the engine's detail: the endpoint and what it answered), rather than staying queued with no word."""
        while True:
            try:
                await self.holder.wait_ready()
                return
            except EngineFailedError as exc:
                await anyio.to_thread.run_sync(self._fail_unfinished, redact_text(str(exc)))
            self.wake.clear()
            with anyio.move_on_after(5):  # a job posted meanwhile (POST refuses most with 503 `engine_failed`)
                await self.wake.wait()

    def _fail_unfinished(self, error: str) -> None:
        for job in unfinished_jobs(self.store):
            log.error("job %s cannot start: %s", job.id, error)
            finish_job(self.store, job.id, "failed", stop_reason="error", error=error)

    @bind_job_id  # what the job logs carries its id
    async def run_job(self, job: JobRecord) -> None:
        try:
            spec = job.spec
            shared = spec.endpoints is None and (spec.model is None or self.holder.settings.kind == "embedded")
            judged = spec.judge.enabled or job.method == "judge"
            async with contextlib.AsyncExitStack() as clients:
                # shared: the embedded engine serves one model, under the name the request was checked against
                own = (
                    None
                    if shared
                    else await clients.enter_async_context(self.holder.engine_for(spec.endpoints, spec.model))
                )
                judge = await clients.enter_async_context(self.holder.judge_engine_for(spec.judge)) if judged else None
                with job_share(job.id, spec.weight):  # every request of the job counts against its share
                    await self._run_rounds(job, (own, judge))
        except asyncio.CancelledError:
            raise  # shutdown: the job stays running in the database and resumes at the next start
        except Exception as exc:
            log.exception("job %s failed", job.id)
            while isinstance(exc, ExceptionGroup) and len(exc.exceptions) == 1:  # a round's error, not its group
                exc = exc.exceptions[0]
            error = redact_text(f"{type(exc).__name__}: {exc}")  # GET /v1/jobs shows it: no endpoint secrets
            fail = partial(finish_job, self.store, job.id, "failed", stop_reason="error", error=error)
            await anyio.to_thread.run_sync(fail)

    async def _run_rounds(
        self, job: JobRecord, engines: tuple[CompletionEngine | None, CompletionEngine | None]
    ) -> None:
        """Keep as many rounds going as the fleet takes (`service.job_run`), so no endpoint waits on a round.

        Rounds commit one at a time, in the order they finish; the target, quotas and progress are settled
        under that lock. A stop condition stops new rounds; the job finishes once those in flight are in.
        """
        await anyio.to_thread.run_sync(mark_running, self.store, job.id)
        method = await anyio.to_thread.run_sync(open_method, self.store, job, self.sandbox, self.screens)
        run = JobRun(job, method, engines, self.holder.settings.rounds_in_flight)
        while True:
            async with anyio.create_task_group() as rounds:
                while await self._may_start_round(run):
                    run.round_started()
                    rounds.start_soon(self._round, run)
            job = await anyio.to_thread.run_sync(get_job, self.store, job.id)  # every round started is in
            run.job = job  # the truth: a commit may have added fewer tasks than it counted (exact duplicates)
            stop = self._stop_reason(job, method)
            if stop is not None:
                status, reason = stop
                await anyio.to_thread.run_sync(partial(finish_job, self.store, job.id, status, stop_reason=reason))
                return

    async def _may_start_round(self, run: JobRun) -> bool:
        """Wait until another round is wanted (True) or the job is to stop (False: the rounds in flight end).

        It is judged by `run.job`, which the commits keep (see `_commit`), with a cancel request read from the
        database every JOB_REREAD_S: reading the whole job at every look at the fleet, or at every round's end,
        cost 9-15% of the service's CPU (its count of accepted tasks scans the tasks).
        """
        while True:
            await self.holder.wait_ready()  # paused while the embedded engine restarts; failed: the job fails
            if time.monotonic() - run.read_at > JOB_REREAD_S:
                fresh = await anyio.to_thread.run_sync(get_job, self.store, run.job_id)
                run.job = msgspec.structs.replace(run.job, cancel_requested=fresh.cancel_requested)
                run.read_at = time.monotonic()
            if self._stop_reason(run.job, run.method) is not None:
                return False
            if run.wants_another_round(run.job, self.holder.fleet):
                return True
            await run.wait_for_change()

    async def _round(self, run: JobRun) -> None:
        produced = None
        try:
            number, run.next_round = run.next_round, run.next_round + 1
            round_seed = run.spec.seed * 1_000_003 + number
            engine = run.own_engine or self.holder.engine  # read each round: a restarted engine is a new object
            judge = run.judge_engine or engine
            provenance = {
                "job_id": run.job_id, "method": run.method_name, "model": engine.model,
                "round": number, "temperature": run.spec.sampling.temperature,
            }  # fmt: skip
            rng = random.Random(round_seed)
            if run.method_name == "judge":
                result = await run.method.round(judge, rng, round_seed, provenance)
            elif run.method_name == "annotate":  # it writes with the engine and judges its answers itself
                result = await run.method.round(engine, rng, round_seed, provenance, judge=judge)
            else:
                result = await run.method.round(engine, rng, round_seed, provenance)
            if run.spec.judge.enabled and run.method_name != "judge":
                result = await judge_round(judge, result, run.spec.judge, round_seed, run.method.label_examples)
            async with run.commit_lock:
                produced = await self._commit(run, result)
        finally:
            run.round_ended(produced)

    async def _commit(self, run: JobRun, result: RoundResult) -> int:
        """Store the round (cut at the target); what it counted towards the target.

        The job is `run.job`, not read again: this run is the only writer of its tasks and progress, and the
        commits are one at a time, so its count is the truth or above it (a task skipped at the insert as an
        exact duplicate counted): the cut can stop short of the target, never past it, and the rounds go on
        from the true count read when they are all in (`_run_rounds`). Reading it at each commit scanned the
        tasks (8% of the service's CPU at the coordinator's ceiling; 8.8 ms at 100k tasks).
        """
        job = run.job
        result = run.method.admit(result)
        keep = max(run.spec.target - job.accepted, 0)
        accepted, surplus = list(result.accepted[:keep]), result.accepted[keep:]
        judged = result.judged[:keep]  # a judge job's readings, cut at its target like tasks
        annotated = result.annotated[:keep]  # an annotate job's answers, likewise
        over = [
            Rejection(reason="target_reached", instruction=t.instruction, detail=_surplus_detail(t)) for t in surplus
        ] + [Rejection(reason="target_reached", instruction=a.instruction, detail={"task_id": a.task_id})
             for a in result.annotated[keep:]]  # fmt: skip
        run.method.note_committed(accepted)
        done = job.accepted + len(accepted) + len(judged) + len(annotated)
        progress = _progress(job, result, done, run.elapsed(), run.method.mix())
        rejections = [*result.rejections, *over]
        commit = partial(commit_round, self.store, job, accepted, rejections, progress, judged, annotated)
        await anyio.to_thread.run_sync(commit)
        run.job = msgspec.structs.replace(job, accepted=done, progress=progress)
        return len(accepted) + len(judged) + len(annotated)

    @staticmethod
    def _stop_reason(job: JobRecord, method: GenerationMethod) -> tuple[str, str] | None:
        if job.cancel_requested:
            return "cancelled", "cancelled"
        if job.accepted >= job.spec.target:
            return "succeeded", "target_reached"
        if method.exhausted:
            return "succeeded", "nothing_left"
        dry_limit = method.max_rounds_without_accept
        if job.progress.rounds_without_accept >= dry_limit:
            return "failed", f"no task accepted in {dry_limit} rounds in a row"
        return None
