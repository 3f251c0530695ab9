"""What one `/metrics` scrape costs on a large store: the aggregate query alone, and the whole HTTP answer.

    .venv/bin/python bench/metrics_bench.py [--tasks 100000] [--rejections 100000] [--jobs 200] [--scrapes 20]

Fills a DuckDB file in a temp folder through the store's own functions (generated tasks in job rounds,
rejections over a dozen reasons, judgements, proven code tasks), then times `store.metrics.store_figures` and
`GET /metrics` through Litestar's test client. Figures, not assertions.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from litestar.testing import TestClient  # noqa: E402

from domain.job_spec import JobProgress, JobSpec  # noqa: E402
from domain.quality import Judgement  # noqa: E402
from domain.records import Instance, NewTask, Rejection  # noqa: E402
from service.app import create_app  # noqa: E402
from service.settings import EngineSettings, Settings, StoreSettings  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.jobs import commit_round, create_job, get_job, mark_running  # noqa: E402
from store.metrics import store_figures  # noqa: E402
from store.quality import add_judgements, tasks_to_judge  # noqa: E402

REASONS = ("too_short", "too_long", "exact_duplicate", "near_duplicate", "banned_word", "low_quality",
           "tests_failed", "tests_timeout", "target_reached", "instance_unparseable", "category_unknown",
           "unjudged")  # fmt: skip


def fill(store, tasks: int, rejections: int, jobs: int) -> None:
    dataset_id = create_dataset(store, name="bench").id
    per_job_tasks, per_job_rejections = tasks // jobs, rejections // jobs
    for j in range(jobs):
        job = create_job(store, JobSpec(dataset_id=dataset_id, target=per_job_tasks))
        mark_running(store, job.id)
        accepted = [NewTask(instruction=f"Job {j} asks for task number {n}, please.", instances=(Instance(output="x"),))
                    for n in range(per_job_tasks)]  # fmt: skip
        rejected = [Rejection(reason=REASONS[n % len(REASONS)], instruction=f"rejected {j}.{n}", detail={"n": n})
                    for n in range(per_job_rejections)]  # fmt: skip
        progress = JobProgress(rounds=1, tokens=1000 * j, tokens_per_s=12.5)
        commit_round(store, get_job(store, job.id), accepted, rejected, progress)
    judged = tasks_to_judge(store, dataset_id, judge_model="j", template="t", after=0, limit=tasks // 10)
    scored = Judgement(outcome="scored", score=4.0, criteria={}, method="token", scale_mass=None, judge_model="j",
                       template="t")  # fmt: skip
    add_judgements(store, dataset_id, None, [(task_id, scored) for task_id, _ in judged])


def timed(call, times: int) -> tuple[float, float]:
    samples = []
    for _ in range(times):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples), max(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=100_000)
    parser.add_argument("--rejections", type=int, default=100_000)
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        engine = EngineSettings(kind="none", default_dataset=False)
        settings = Settings(store=StoreSettings(data_dir=folder), engine=engine)
        with TestClient(app=create_app(settings)) as client:
            store = client.app.state.store
            started = time.perf_counter()
            fill(store, args.tasks, args.rejections, args.jobs)
            print(f"filled in {time.perf_counter() - started:.1f} s: {store_figures(store).tasks} tasks, "
                  f"{sum(store_figures(store).rejections.values())} rejections, {args.jobs} jobs")  # fmt: skip
            query = timed(lambda: store_figures(store), args.scrapes)
            scrape = timed(lambda: client.get("/metrics").raise_for_status(), args.scrapes)
            size = len(client.get("/metrics", headers={"accept-encoding": "identity"}).content)
    print(f"store_figures: median {query[0]:.1f} ms, max {query[1]:.1f} ms ({args.scrapes} runs)")
    print(f"GET /metrics:  median {scrape[0]:.1f} ms, max {scrape[1]:.1f} ms; {size} bytes uncompressed")


if __name__ == "__main__":
    main()
