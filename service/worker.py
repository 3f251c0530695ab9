"""The job worker: runs queued jobs round by round, committing each round, resuming after any restart."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from functools import partial
from typing import Any

import anyio
import msgspec

from generators.engine import CompletionEngine, Sampling
from generators.filters import InstructionRules
from generators.prompts import Example
from generators.self_instruct import Pool, RoundResult, SelfInstructConfig, run_round
from service.engine import EngineHolder
from store import Store
from store.fingerprint import fingerprint
from store.jobs import (
    JobRecord,
    commit_round,
    dataset_instructions,
    finish_job,
    get_job,
    mark_running,
    seed_examples,
    unfinished_jobs,
)
from store.near_duplicates import NearDuplicateIndex

log = logging.getLogger("instructforge.worker")


class JobParams(msgspec.Struct, frozen=True, kw_only=True):
    """What a job was asked for (stored as the job's `params`)."""

    target: int
    seed: int = 0
    sampling: Sampling = Sampling()
    config: SelfInstructConfig = SelfInstructConfig()
    rules: InstructionRules = InstructionRules()
    model: str | None = None
    endpoints: list[str] | None = None


def _load_pool(store: Store, job: JobRecord, threshold: float) -> tuple[Pool, NearDuplicateIndex]:
    rows = dataset_instructions(store, job.dataset_id)
    examples = [Example(**e) for e in seed_examples(store, job.dataset_id)]
    pool = Pool(
        seeds=[text for text, source in rows if source == "seed"],
        generated=[text for text, source in rows if source == "generated"],
        fingerprints={fingerprint(text) for text, _ in rows},
        examples=examples,
    )
    return pool, NearDuplicateIndex(threshold, (text for text, _ in rows))


def _progress(job: JobRecord, params: JobParams, result: RoundResult, accepted: int, elapsed: float) -> dict[str, Any]:
    before = job.progress
    stages = {k: before.get("stages", {}).get(k, 0) + v for k, v in result.stages.items()}
    tokens = before.get("tokens", 0) + result.tokens
    rate = accepted / elapsed * 60 if elapsed > 0 else 0.0
    remaining = max(params.target - accepted, 0)
    return {
        "rounds": before.get("rounds", 0) + 1,
        "rounds_without_accept": 0 if result.accepted else before.get("rounds_without_accept", 0) + 1,
        "stages": stages,
        "tokens": tokens,
        "elapsed_s": round(elapsed, 1),
        "tokens_per_s": round(tokens / elapsed, 1) if elapsed > 0 else 0.0,
        "tasks_per_min": round(rate, 2),
        "eta_s": round(remaining / rate * 60, 1) if rate > 0 else None,
    }


class JobWorker:
    def __init__(self, store: Store, holder: EngineHolder) -> None:
        self.store = store
        self.holder = holder
        self.wake = asyncio.Event()

    async def run(self) -> None:
        """Forever: wait for the engine, then run what is unfinished (embedded: one by one)."""
        await self.holder.ready.wait()
        while True:
            jobs = await anyio.to_thread.run_sync(unfinished_jobs, self.store)
            if not jobs:
                self.wake.clear()
                with anyio.move_on_after(5):
                    await self.wake.wait()
                continue
            if self.holder.settings.kind == "remote":
                await asyncio.gather(*(self.run_job(job) for job in jobs))
            else:
                await self.run_job(jobs[0])

    async def run_job(self, job: JobRecord) -> None:
        try:
            params = msgspec.convert(job.params, JobParams)
            shared = params.endpoints is None and (params.model is None or self.holder.settings.kind == "embedded")
            if shared:  # the embedded engine serves one model, under the name the request was checked against
                await self._run_rounds(job, params, None)
                return
            async with self.holder.engine_for(params.endpoints, params.model) as engine:
                await self._run_rounds(job, params, engine)
        except asyncio.CancelledError:
            raise  # shutdown: the job stays running in the database and resumes at the next start
        except Exception as exc:
            log.exception("job %s failed", job.id)
            error = f"{type(exc).__name__}: {exc}"
            fail = partial(finish_job, self.store, job.id, "failed", stop_reason="error", error=error)
            await anyio.to_thread.run_sync(fail)

    async def _run_rounds(self, job: JobRecord, params: JobParams, own_engine: CompletionEngine | None) -> None:
        await anyio.to_thread.run_sync(mark_running, self.store, job.id)
        pool, index = await anyio.to_thread.run_sync(_load_pool, self.store, job, params.rules.near_duplicate_threshold)
        elapsed_before, started = job.progress.get("elapsed_s", 0.0), time.monotonic()
        while True:
            await self.holder.ready.wait()  # paused while the embedded engine restarts
            job = await anyio.to_thread.run_sync(get_job, self.store, job.id)
            stop = self._stop_reason(job, params)
            if stop is not None:
                status, reason = stop
                await anyio.to_thread.run_sync(partial(finish_job, self.store, job.id, status, stop_reason=reason))
                return
            round_seed = params.seed * 1_000_003 + job.progress.get("rounds", 0)
            engine = own_engine or self.holder.engine  # read each round: a restarted engine is a new object
            result = await run_round(
                engine, pool, random.Random(round_seed), config=params.config, sampling=params.sampling,
                rules=params.rules, index=index, seed=round_seed,
                provenance={"job_id": job.id, "method": job.method, "model": engine.model,
                            "round": job.progress.get("rounds", 0), "temperature": params.sampling.temperature},
            )  # fmt: skip
            keep = max(params.target - job.accepted, 0)
            over = [("target_reached", t.instruction, {}) for t in result.accepted[keep:]]
            result.accepted = result.accepted[:keep]
            elapsed = elapsed_before + time.monotonic() - started
            progress = _progress(job, params, result, job.accepted + len(result.accepted), elapsed)
            commit = partial(commit_round, self.store, job, result.accepted, result.rejections + over, progress)
            await anyio.to_thread.run_sync(commit)

    @staticmethod
    def _stop_reason(job: JobRecord, params: JobParams) -> tuple[str, str] | None:
        if job.cancel_requested:
            return "cancelled", "cancelled"
        if job.accepted >= params.target:
            return "succeeded", "target_reached"
        if job.progress.get("rounds_without_accept", 0) >= params.config.max_rounds_without_accept:
            return "failed", f"no task accepted in {params.config.max_rounds_without_accept} rounds in a row"
        return None
