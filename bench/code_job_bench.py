"""A real `code` job: how many model-written candidates parse, and how many pass their own tests.

    .venv/bin/python bench/code_job_bench.py [--rounds 10] [--prompts-per-round 16] [--temperature 0.7]
                                             [--url http://127.0.0.1:PORT]   # an already running vLLM server

Starts a vLLM server with the packaged SmolLM2-135M-Instruct (unless --url is given), runs a code job in
process (the service's worker, the real sandbox, a DuckDB file in a temp folder) on a fresh dataset
(so the 40 packaged code seeds are proven and added first) for a fixed number of rounds, and prints the
funnel: prompts, candidates, passed the filters, executed, passed; the pass rate of executed candidates;
rejections by reason; tokens and time. Figures, not assertions.
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

from domain.job_spec import CodeConfig, JobSpec, Sampling  # noqa: E402
from generators.engine import OpenAICompletionsEngine  # noqa: E402
from generators.model import DEFAULT_SERVED_NAME, prepare_default_model  # noqa: E402
from generators.sandbox import Sandbox  # noqa: E402
from generators.vllm_server import VLLMServer  # noqa: E402
from service.engine_holder import EngineHolder  # noqa: E402
from service.settings import EngineSettings  # noqa: E402
from service.worker import JobWorker  # noqa: E402
from store import Store  # noqa: E402
from store.code_checks import code_stats  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.jobs import create_job, get_job, job_rejections  # noqa: E402


async def run_job(url: str, workdir: Path, args: argparse.Namespace) -> None:
    store = Store.open(workdir / "bench.duckdb")
    dataset = create_dataset(store, name="code-bench")
    holder = EngineHolder(EngineSettings(kind="remote", endpoints=(url,)), workdir)
    holder.engine = OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME)
    holder.ready.set()
    # The target is out of reach on purpose: the job runs its rounds and stops on the dry-round limit or
    # the round cap below, so every run measures the same amount of generation.
    code = CodeConfig(prompts_per_round=args.prompts_per_round, max_rounds_without_accept=args.rounds)
    spec = JobSpec(dataset_id=dataset.id, method="code", target=1_000_000, seed=args.seed,
                   sampling=Sampling(temperature=args.temperature), code=code)  # fmt: skip
    job = create_job(store, spec)
    worker = JobWorker(store, holder, Sandbox(max_parallel=2))
    started = time.perf_counter()
    task = asyncio.create_task(worker.run_job(job))
    while not task.done() and get_job(store, job.id).progress.rounds < args.rounds:
        await asyncio.sleep(1)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    elapsed = time.perf_counter() - started
    done = get_job(store, job.id)
    stages, stats = done.progress.stages, code_stats(store, dataset.id)
    print(f"rounds: {done.progress.rounds}, {elapsed:.0f} s, {done.progress.tokens} output tokens")
    print("funnel: " + ", ".join(f"{k} {v}" for k, v in stages.items()))
    print(f"executed {stats.executed}, passed {stats.passed}: pass rate {stats.pass_rate}")
    print(f"failures: {stats.failures}; mean passing run {stats.mean_duration_s} s")
    print(f"rejections by reason: {job_rejections(store, job.id)}")
    await holder.engine.aclose()
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--prompts-per-round", type=int, default=16)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--url", help="a running OpenAI-compatible vLLM server serving the default model")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="instructforge-codebench-"))
    if args.url:
        asyncio.run(run_job(args.url, workdir, args))
        return
    model = prepare_default_model(REPO / ".cache" / "test")
    with VLLMServer(str(model), served_model_name=DEFAULT_SERVED_NAME, log_path=workdir / "vllm.log") as server:
        asyncio.run(run_job(server.base_url, workdir, args))


if __name__ == "__main__":
    main()
