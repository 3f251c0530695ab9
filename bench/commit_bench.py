"""The single writer's ceiling: rounds a job commits per second into a real DuckDB file, and tasks per second.

Each round is what a self-instruct round on a fleet hands the store (`store.jobs.commit_round`): `--tasks` new
tasks with one instance each, `--rejections` rejections, and the job's progress, all in one transaction, as the
worker commits them (one at a time). The dataset already holds `--existing` tasks (bulk-loaded first). Prints the
median and p90 of the commit time, rounds/s and tasks/s over `--rounds` commits, and the get_job read the worker
does before each commit.

    python bench/commit_bench.py [--existing 100000] [--rounds 300] [--tasks 8] [--rejections 24]
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
from domain.job_spec import JobProgress, JobSpec  # noqa: E402
from domain.records import Instance, NewTask, Rejection  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.jobs import commit_round, create_job, get_job, mark_running  # noqa: E402
from store.tasks import add_tasks  # noqa: E402

WORDS = "alpha beta gamma delta epsilon zeta eta theta iota kappa lambda mu nu xi omicron pi rho sigma tau".split()


def task(n: int) -> NewTask:
    words = " ".join(WORDS[(n >> (4 * k)) % len(WORDS)] for k in range(6))
    return NewTask(instruction=f"Task {n}: write about {words}.", instances=(Instance(output=f"An answer {n}."),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--existing", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--tasks", type=int, default=8, help="accepted tasks per round")
    parser.add_argument("--rejections", type=int, default=24, help="rejections per round")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="commit-bench-") as work:
        store = Store.open(Path(work) / "bench.duckdb")
        dataset = create_dataset(store, name="bench").id
        for start in range(0, args.existing, 50_000):
            batch = [task(n) for n in range(start, min(start + 50_000, args.existing))]
            add_tasks(store, dataset, batch, source="seed", stage="bench")
        job = create_job(store, JobSpec(dataset_id=dataset, target=1_000_000))
        mark_running(store, job.id)
        commits, reads, number = [], [], args.existing
        started = time.perf_counter()
        for round_number in range(args.rounds):
            t0 = time.perf_counter()
            job = get_job(store, job.id)
            reads.append(time.perf_counter() - t0)
            accepted = [task(number + k) for k in range(args.tasks)]
            number += args.tasks
            rejected = [
                Rejection(reason="near_duplicate", instruction=f"r{round_number}-{k}") for k in range(args.rejections)
            ]
            t0 = time.perf_counter()
            commit_round(store, job, accepted, rejected, JobProgress(rounds=round_number + 1))
            commits.append(time.perf_counter() - t0)
        wall = time.perf_counter() - started
        store.close()
    ms = sorted(c * 1000 for c in commits)
    print(
        f"{args.rounds} rounds of {args.tasks} tasks + {args.rejections} rejections into a dataset of {args.existing:,}"
    )
    print(f"commit: median {statistics.median(ms):.1f} ms, p90 {ms[int(0.9 * len(ms))]:.1f} ms;"
          f" get_job: median {statistics.median(reads) * 1000:.1f} ms")  # fmt: skip
    print(
        f"one writer: {args.rounds / wall:.1f} rounds/s, {args.rounds * args.tasks / wall:.0f} tasks/s (reads included)"
    )


if __name__ == "__main__":
    main()
