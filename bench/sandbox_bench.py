"""Sandbox benchmark: trivial runs per second and the cost of one run. Prints figures only.

Run from the repository root (about half a minute on two cores):

    .venv/bin/python bench/sandbox_bench.py [--rounds 5] [--runs 30]

What it measures (target: at least 20 trivial runs/s on a 2-core machine):
  start    the bare interpreter (`python -I -S -c pass`) and the same under the isolation's wrapper
           (bubblewrap with the run's view and tmpfs, or `unshare -n -i -p -f`), median latency: what the
           isolation itself costs per run
  latency  one trivial sandboxed run (a 2-line solution, 3 asserts), median and p90, and its overhead over
           the bare interpreter start (pipes, uid slot, control group, work directory, fork, reports,
           clean-up)
  rate     trivial runs/s: serial (`run_blocking` in a loop) and `run_many` with max_parallel=2 and 4;
           each the median of --rounds rounds of --runs runs
The machine is shared: compare the figures of one run with each other, not with another day's.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import time

from generators.sandbox import Sandbox, SandboxLimits, isolation_report
from generators.sandbox.view import run_args

SOLUTION = "def add(a, b):\n    return a + b\n"
TESTS = ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add('a', 'b') == 'ab'"]


def bare_start_s(command: list[str], samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        subprocess.run(command, check=True, env={"PATH": "/usr/bin:/bin"})
        times.append(time.perf_counter() - started)
    return times


def run_latencies_s(sandbox: Sandbox, samples: int) -> list[float]:
    times = []
    for _ in range(samples):
        started = time.perf_counter()
        result = sandbox.run_blocking(SOLUTION, TESTS)
        times.append(time.perf_counter() - started)
        if result.status != "passed":
            print(f"  unexpected: {result.status} {result.error}")
    return times


def rate(sandbox: Sandbox, runs: int, rounds: int, parallel: bool) -> float:
    rates = []
    for _ in range(rounds):
        started = time.perf_counter()
        if parallel:
            results = sandbox.run_many([(SOLUTION, TESTS)] * runs)
        else:
            results = [sandbox.run_blocking(SOLUTION, TESTS) for _ in range(runs)]
        rates.append(runs / (time.perf_counter() - started))
        failed = [r for r in results if r.status != "passed"]
        if failed:
            print(f"  unexpected: {len(failed)} not passed, e.g. {failed[0].status} {failed[0].error}")
    return statistics.median(rates)


def ms(values: list[float]) -> str:
    ordered = sorted(values)
    return f"median {statistics.median(ordered) * 1e3:6.1f} ms   p90 {ordered[int(len(ordered) * 0.9)] * 1e3:6.1f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    isolation = isolation_report()
    print(
        f"isolation: namespaces={','.join(isolation.namespaces) or 'none'} per_run_uid={isolation.per_run_uid} "
        f"filesystem={isolation.filesystem} seccomp={isolation.seccomp is not None} "
        f"cgroups={isolation.cgroups.version if isolation.cgroups else 'none'}"
    )
    print(f"           python={isolation.python}")
    for note in isolation.notes:
        print(f"           note: {note}")

    bare = bare_start_s([isolation.python, "-I", "-S", "-c", "pass"], args.runs)
    print(f"start    bare interpreter          {ms(bare)}")
    if isolation.wrapper:
        tail = run_args(SandboxLimits().disk_mb, None) if isolation.filesystem == "private" else []
        wrapped = bare_start_s([*isolation.wrapper, *tail, isolation.python, "-I", "-S", "-c", "pass"], args.runs)
        print(f"start    under the wrapper         {ms(wrapped)}   ({isolation.wrapper[0]})")

    with Sandbox(SandboxLimits(), max_parallel=1, isolation=isolation) as sandbox:
        run_latencies_s(sandbox, 3)  # warm the page cache
        latencies = run_latencies_s(sandbox, args.runs)
        print(f"latency  one trivial run           {ms(latencies)}")
        overhead = statistics.median(latencies) - statistics.median(bare)
        print(f"latency  overhead over bare start  {overhead * 1e3:6.1f} ms per run")
        print(f"rate     serial                    {rate(sandbox, args.runs, args.rounds, parallel=False):6.1f} runs/s")
    for parallel in (2, 4):
        with Sandbox(SandboxLimits(), max_parallel=parallel, isolation=isolation) as sandbox:
            figure = rate(sandbox, args.runs, args.rounds, parallel=True)
            print(f"rate     run_many max_parallel={parallel}    {figure:6.1f} runs/s")


if __name__ == "__main__":
    main()
