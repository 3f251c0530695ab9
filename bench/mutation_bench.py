"""Mutation testing of the 40 packaged code seeds: what it costs and how strong their tests are. Prints only.

Run from the repository root (one to two minutes on two cores; mutants that loop cost the wall clock each):

    .venv/bin/python bench/mutation_bench.py [--max-parallel 2] [--max-mutants 30] [--wall-s 5]

Per seed: mutants made, killed, kill rate, seconds for one `verify` (the original run plus every mutant,
`run_many` with --max-parallel), and the survivors. Then the median seconds and mutants per seed, the
kill-rate distribution (quartiles and a histogram), the mutants per operator and how the killed ones died.
The machine is shared: quote the load (`uptime`) beside any figure.
"""

from __future__ import annotations

import argparse
import statistics
from collections import Counter
from importlib.resources import files

import msgspec

from domain.records import CodeExample
from generators.code_verification import CodeVerification, verify
from generators.mutation import make_mutants, operators_of
from generators.sandbox import Sandbox, SandboxLimits

BINS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)


def packaged_seeds() -> list[CodeExample]:
    lines = files("generators").joinpath("seeds", "code_seeds.jsonl").read_bytes().splitlines()
    decoder = msgspec.json.Decoder(CodeExample)
    return [decoder.decode(line) for line in lines if line.strip()]


def histogram(rates: list[float]) -> list[tuple[str, int]]:
    rows = []
    for low, high in zip(BINS, BINS[1:], strict=False):
        inside = sum(low <= rate < high or (high == 1.0 and rate == 1.0) for rate in rates)
        rows.append((f"[{low:.1f}, {high:.1f}{']' if high == 1.0 else ')'}", inside))
    return rows


def report(seeds: list[CodeExample], results: list[CodeVerification], operators: Counter[str]) -> None:
    rates = [r.kill_rate for r in results if r.kill_rate is not None]
    seconds = [r.duration_s for r in results]
    print(f"\n{len(results)} seeds; median {statistics.median(seconds):.2f} s per seed "
          f"(min {min(seconds):.2f}, max {max(seconds):.2f}, total {sum(seconds):.1f} s); "
          f"median {statistics.median(r.mutants for r in results):g} mutants per seed "
          f"(min {min(r.mutants for r in results)}, max {max(r.mutants for r in results)}, "
          f"total {sum(r.mutants for r in results)})")  # fmt: skip
    unmeasured = [s.entry_point for s, r in zip(seeds, results, strict=True) if r.kill_rate is None]
    print(f"kill rate over {len(rates)} seeds (not measured: {unmeasured or 'none'}): "
          f"min {min(rates):.3f}, quartiles {', '.join(f'{q:.3f}' for q in statistics.quantiles(rates, n=4))}, "
          f"max {max(rates):.3f}, mean {statistics.fmean(rates):.3f}")  # fmt: skip
    print(f"  all mutants killed: {sum(rate == 1.0 for rate in rates)} of {len(rates)} seeds")
    for label, count in histogram(rates):
        print(f"  {label:<12} {count:>3} {'#' * count}")
    killed_by: Counter[str] = Counter()
    for r in results:
        killed_by.update(r.killed_by)
    survivors = Counter(s.operator for r in results for s in r.survivors)
    print(f"mutants per operator: {dict(operators)}")
    print(f"survivors per operator: {dict(survivors)}")
    print(f"killed by: {dict(killed_by)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--max-parallel", type=int, default=2)
    parser.add_argument("--max-mutants", type=int, default=30)
    parser.add_argument("--wall-s", type=float, default=5.0)
    args = parser.parse_args()
    seeds = packaged_seeds()
    operators: Counter[str] = Counter()
    results = []
    with Sandbox(SandboxLimits(wall_s=args.wall_s), max_parallel=args.max_parallel) as sandbox:
        print(f"{'entry point':<24} {'mutants':>7} {'killed':>6} {'rate':>6} {'s':>6}  survivors")
        for seed in seeds:
            operators.update(operators_of(make_mutants(seed.solution, seed.entry_point, limit=args.max_mutants)))
            result = verify(sandbox, seed.solution, seed.tests, seed.entry_point, max_mutants=args.max_mutants)
            results.append(result)
            rate = "-" if result.kill_rate is None else f"{result.kill_rate:.3f}"
            shown = "; ".join(f"{s.line}: {s.description}" for s in result.survivors)
            print(f"{seed.entry_point:<24} {result.mutants:>7} {result.killed:>6} {rate:>6} "
                  f"{result.duration_s:>6.2f}  {shown}")  # fmt: skip
    report(seeds, results, operators)


if __name__ == "__main__":
    main()
