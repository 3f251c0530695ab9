"""Near-duplicate filter benchmark: `store.near_duplicates.NearDuplicateIndex` against the exact rule, at scale.

Run from the repository root (the full run takes about 40 minutes of CPU, more on a busy machine):

    .venv/bin/python bench/dedup_bench.py [--sizes 1000,10000,100000,1000000] [--reference-size 2000]
        [--oracle-queries 300] [--pool 1000000] [--latency-queries 2000] [--restart-sizes 100000,1000000]
        [--sweep-size 100000] [--seed 1234] [--workdir DIR] [--num-perm N] [--bands B]
        [--min-band-hits K] [--shingle-size S] [--exact-below E] [--json-out FILE]
    .venv/bin/python bench/dedup_bench.py --sizes 1000,10000 --reference-size 500 --pool 20000 \\
        --restart-sizes 20000 --sweep-size 0                                   # a quick run (~2 minutes)

The corpus is /work/shared/bench/make_instruction_corpus.py's (short instructions, planted paraphrases,
template collisions), `--seed` for the stream and seed+1 for the lookups against the pool. Times are CPU
seconds of this process (one core: the index is single-threaded) and wall seconds; on a shared machine
trust CPU seconds. Sections:

  reference  the first --reference-size instructions through three greedy filters: `rouge_score`'s own
             scorer against every kept instruction (the reference, O(n^2)), the old exact O(n) loop
             (`ExactScan` below, a copy of the first implementation) and the index. Prints each time,
             the index's speed-up over the reference, and how the index's decisions compare with the
             reference's (see "Method").
  stream     for each --sizes N: the first N instructions through the index (is_near_duplicate, then add
             when kept): CPU and wall seconds, per instruction, kept. Quality as in "Method" on all
             instructions (N <= 10,000) or on --oracle-queries of the second half.
  pool       an index built from the first --pool instructions in one `add_many` (build time, memory),
             then --latency-queries new instructions looked up (best_match): median and p99 latency.
  restart    --restart-sizes tasks written to a DuckDB store with store.tasks.add_tasks, then
             `store.dedup.screen.open_screen` timed (the rebuild at start-up).
  sweep      (--sweep-size > 0) alternative LSH parameters on the --sweep-size stream: recall, CPU per
             instruction and candidates per lookup; then, for random pairs of instructions, how often a
             band of 4 rows collides against J**4 with datasketch's "affine32" and "affine64" schemes.

Method. A greedy filter's later decisions depend on its earlier ones: once two filters disagree, their
kept sets differ and so do the comparisons that follow. So each decision of the index is compared with
the exact rule's decision *against the same kept set*, the index's own at that moment: the oracle
(`ExactScan`, exact) scans the instructions the index had kept before the one in question. Recall is
the share of the oracle's "near-duplicate" decisions the index also made (the LSH can miss a match);
precision the share of the index's "near-duplicate" decisions the oracle confirms (every candidate is
scored exactly, so it should be 1). In the reference section the oracle is `rouge_score` itself over
that same kept prefix, and the two complete greedy runs are also compared (same kept set or not).
No assertions: figures only.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from domain.records import Instance, NewTask  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.dedup.lsh import MinHasher  # noqa: E402
from store.dedup.near_duplicates import (  # noqa: E402
    NearDuplicateIndex,
    rouge_l_f,
    rouge_tokens,
)
from store.dedup.screen import open_screen  # noqa: E402
from store.tasks import add_tasks  # noqa: E402

CORPUS_SCRIPT = Path("/work/shared/bench/make_instruction_corpus.py")
THRESHOLD = 0.7


class ExactScan:
    """The first implementation, kept as the oracle: ROUGE-L F against every kept instruction.

    A copy of store/near_duplicates.py before the index, plus `limit`: scan only the first `limit` kept.
    """

    def __init__(self, threshold: float = 0.7, texts: Iterable[str] = ()) -> None:
        self.threshold = threshold
        self._kept: list[tuple[list[str], str]] = []
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, text: str) -> None:
        self._kept.append((rouge_tokens(text), text))

    def best_match(self, text: str, limit: int | None = None) -> tuple[float, str | None]:
        tokens, best, match = rouge_tokens(text), 0.0, None
        for kept_tokens, kept_text in self._kept[:limit]:
            if 2 * min(len(tokens), len(kept_tokens)) / max(len(tokens) + len(kept_tokens), 1) <= best:
                continue
            score = rouge_l_f(tokens, kept_tokens)
            if score > best:
                best, match = score, kept_text
        return best, match

    def is_near_duplicate(self, text: str, limit: int | None = None) -> tuple[bool, float, str | None]:
        score, match = self.best_match(text, limit)
        return score > self.threshold, score, match

    def near(self, text: str, limit: int | None = None) -> bool:
        return self.is_near_duplicate(text, limit)[0]


class RougeScoreScan:
    """The reference: rouge_score's scorer against every kept instruction, stopping at the first above."""

    def __init__(self, threshold: float = 0.7) -> None:
        from rouge_score import rouge_scorer

        self.threshold = threshold
        self._scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
        self.kept: list[str] = []

    def near(self, text: str, limit: int | None = None) -> bool:
        return any(self._scorer.score(k, text)["rougeL"].fmeasure > self.threshold for k in self.kept[:limit])


def corpus(n: int, seed: int, workdir: Path) -> list[str]:
    path = workdir / f"corpus-{n}-{seed}.jsonl"
    if not path.exists():
        subprocess.run([sys.executable, str(CORPUS_SCRIPT), str(n), str(path), "--seed", str(seed)], check=True)
    with path.open() as f:
        return [json.loads(line)["text"] for line in f]


class Clock:
    def __enter__(self) -> Clock:
        self.cpu, self.wall = time.process_time(), time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cpu, self.wall = time.process_time() - self.cpu, time.perf_counter() - self.wall


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def run_index(texts: list[str], params: dict[str, Any]) -> tuple[NearDuplicateIndex, np.ndarray, np.ndarray, Clock]:
    """Greedy filter: decisions, and how many instructions were kept before each one."""
    index = NearDuplicateIndex(THRESHOLD, **params)
    decisions = np.zeros(len(texts), bool)
    kept_before = np.zeros(len(texts), np.int64)
    with Clock() as clock:
        for i, text in enumerate(texts):
            kept_before[i] = len(index)
            if index.is_near_duplicate(text)[0]:
                decisions[i] = True
            else:
                index.add(text)
    return index, decisions, kept_before, clock


def quality(decisions: np.ndarray, truth: dict[int, bool]) -> dict[str, Any]:
    tp = sum(1 for i, t in truth.items() if t and decisions[i])
    fn = sum(1 for i, t in truth.items() if t and not decisions[i])
    fp = sum(1 for i, t in truth.items() if not t and decisions[i])
    return {
        "evaluated": len(truth),
        "oracle_duplicates": tp + fn,
        "missed": fn,
        "false_duplicates": fp,
        "recall": tp / (tp + fn) if tp + fn else 1.0,
        "precision": tp / (tp + fp) if tp + fp else 1.0,
    }


def conditional_truth(
    texts: list[str], kept_before: np.ndarray, sample: Iterable[int], oracle: ExactScan | RougeScoreScan
) -> dict[int, bool]:
    """The exact decision for each sampled instruction against the index's kept prefix at that moment."""
    return {int(i): oracle.near(texts[i], int(kept_before[i])) for i in sample}


def show_quality(label: str, q: dict[str, Any]) -> None:
    print(
        f"  {label}: recall {q['recall']:.4f} ({q['missed']} missed of {q['oracle_duplicates']} duplicates), "
        f"precision {q['precision']:.4f} ({q['false_duplicates']} false), {q['evaluated']} decisions evaluated"
    )


def reference_section(texts: list[str], params: dict[str, Any]) -> dict[str, Any]:
    print(f"\n== reference: {len(texts)} instructions, greedy ==")
    ref = RougeScoreScan(THRESHOLD)
    ref_decisions = []
    with Clock() as ref_clock:
        for text in texts:
            near = ref.near(text)
            ref_decisions.append(near)
            if not near:
                ref.kept.append(text)
    exact = ExactScan(THRESHOLD)
    exact_decisions = []
    with Clock() as exact_clock:
        for text in texts:
            near = exact.is_near_duplicate(text)[0]
            exact_decisions.append(near)
            if not near:
                exact.add(text)
    index, decisions, kept_before, clock = run_index(texts, params)
    reference_kept = len(ref.kept)
    ref.kept = [t for t, d in zip(texts, decisions, strict=True) if not d]  # now over the index's kept prefix
    truth = conditional_truth(texts, kept_before, range(len(texts)), ref)
    q = quality(decisions, truth)
    same_run = list(decisions) == ref_decisions
    agree = exact_decisions == ref_decisions
    print(f"  rouge_score scan  {ref_clock.cpu:8.2f} s CPU {ref_clock.wall:8.2f} s wall, kept {reference_kept}")
    print(f"  old exact loop    {exact_clock.cpu:8.2f} s CPU, the same decisions as rouge_score: {agree}")
    print(
        f"  index             {clock.cpu:8.2f} s CPU  speed-up over rouge_score {ref_clock.cpu / clock.cpu:,.0f}x, "
        f"over the old loop {exact_clock.cpu / clock.cpu:,.1f}x"
    )
    show_quality("vs rouge_score on the index's kept prefix", q)
    print(
        f"  the whole greedy run equals rouge_score's: {same_run} "
        f"({sum(a != b for a, b in zip(decisions, ref_decisions, strict=True))} decisions differ)"
    )
    return {
        "n": len(texts),
        "rouge_score_cpu_s": ref_clock.cpu,
        "exact_loop_cpu_s": exact_clock.cpu,
        "index_cpu_s": clock.cpu,
        "speedup": ref_clock.cpu / clock.cpu,
        "quality": q,
        "same_run": same_run,
    }


def stream_section(
    texts: list[str], sizes: list[int], params: dict[str, Any], oracle_queries: int, seed: int
) -> list[dict[str, Any]]:
    print("\n== stream: the first N instructions through the filter (greedy, one core) ==")
    rng = np.random.default_rng(seed)
    results = []
    for n in sizes:
        chunk = texts[:n]
        index, decisions, kept_before, clock = run_index(chunk, params)
        kept = [t for t, d in zip(chunk, decisions, strict=True) if not d]
        sample = range(n) if n <= 10_000 else np.sort(rng.choice(np.arange(n // 2, n), oracle_queries, replace=False))
        oracle = ExactScan(THRESHOLD, kept)
        with Clock() as oracle_clock:
            truth = conditional_truth(chunk, kept_before, sample, oracle)
        candidates = [len(index.candidates(chunk[i])) for i in list(sample)[-200:]]
        q = quality(decisions, truth)
        print(
            f"  N={n:>9,}: {clock.cpu:8.1f} s CPU ({clock.cpu / n * 1e6:5.0f} us each), {clock.wall:8.1f} s wall; "
            f"kept {len(index):,}, rejected {int(decisions.sum()):,}; "
            f"candidates per lookup at the end: mean {statistics.mean(candidates):,.0f}"
        )
        show_quality(f"vs the exact loop on the same kept prefix ({oracle_clock.cpu:.0f} s CPU)", q)
        results.append(
            {
                "n": n,
                "cpu_s": clock.cpu,
                "wall_s": clock.wall,
                "kept": len(index),
                "quality": q,
                "mean_candidates": statistics.mean(candidates),
            }
        )
    return results


def pool_section(texts: list[str], queries: list[str], params: dict[str, Any]) -> dict[str, Any]:
    print(f"\n== pool: an index over {len(texts):,} instructions, then {len(queries):,} new lookups ==")
    before = rss_mb()
    with Clock() as build:
        index = NearDuplicateIndex(THRESHOLD, texts, **params)
    grown = rss_mb() - before
    text_mb = sum(sys.getsizeof(t) for t in texts) / 1e6
    cpu, wall, near = [], [], 0
    for query in queries:
        c, w = time.process_time(), time.perf_counter()
        score, _ = index.best_match(query)
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
        near += score > THRESHOLD
    candidates = [len(index.candidates(q)) for q in queries[:300]]
    cpu_us, wall_us = np.array(cpu) * 1e6, np.array(wall) * 1e6
    print(f"  build from texts: {build.cpu:.1f} s CPU, {build.wall:.1f} s wall")
    print(
        f"  memory: RSS +{grown:,.0f} MB for the index (its numpy arrays {index.nbytes / 1e6:,.0f} MB); "
        f"the texts themselves, {text_mb:,.0f} MB, were already in memory"
    )
    print(
        f"  lookup CPU: median {np.median(cpu_us):,.0f} us, p99 {np.quantile(cpu_us, 0.99):,.0f} us, "
        f"mean {cpu_us.mean():,.0f} us; wall: median {np.median(wall_us):,.0f} us, "
        f"p99 {np.quantile(wall_us, 0.99):,.0f} us"
    )
    print(
        f"  {near / len(queries):.0%} of the lookups are near-duplicates; candidates scored per lookup: "
        f"mean {statistics.mean(candidates):,.0f}, p99 {np.quantile(candidates, 0.99):,.0f}"
    )
    return {
        "n": len(texts),
        "build_cpu_s": build.cpu,
        "build_wall_s": build.wall,
        "rss_mb": grown,
        "numpy_mb": index.nbytes / 1e6,
        "lookup_cpu_us_median": float(np.median(cpu_us)),
        "lookup_cpu_us_p99": float(np.quantile(cpu_us, 0.99)),
        "lookup_wall_us_median": float(np.median(wall_us)),
        "lookup_wall_us_p99": float(np.quantile(wall_us, 0.99)),
        "mean_candidates": statistics.mean(candidates),
    }


def restart_section(texts: list[str], sizes: list[int], params: dict[str, Any], workdir: Path) -> list[dict[str, Any]]:
    print("\n== restart: store.dedup.screen.open_screen from a DuckDB store ==")
    path = workdir / "restart.duckdb"
    for leftover in (path, path.with_suffix(".duckdb.wal")):  # from an earlier run with the same --workdir
        leftover.unlink(missing_ok=True)
    store = Store.open(path)
    results = []
    try:
        dataset_id = create_dataset(store, name="dedup-bench").id
        loaded = 0
        for size in sizes:
            while loaded < size:
                batch = texts[loaded : min(size, loaded + 50_000)]
                tasks = [NewTask(instruction=t, instances=(Instance(input="", output="An answer."),)) for t in batch]
                add_tasks(store, dataset_id, tasks, source="generated", stage="bench")
                loaded += len(batch)
            with Clock() as clock:
                index = open_screen(store, dataset_id, THRESHOLD, **params).index
            print(
                f"  {size:>9,} tasks ({len(index):,} stored after exact dedup): {clock.cpu:.1f} s CPU, "
                f"{clock.wall:.1f} s wall"
            )
            results.append({"tasks": size, "stored": len(index), "cpu_s": clock.cpu, "wall_s": clock.wall})
    finally:
        store.close()
    return results


SWEEP = (  # (num_perm, bands, min_band_hits, shingle_size)
    (128, 32, 1, 1),
    (160, 32, 1, 1),
    (128, 32, 2, 1),
    (192, 48, 2, 1),
    (256, 64, 2, 1),
    (256, 64, 3, 1),
    (64, 32, 2, 2),
)


def sweep_section(texts: list[str], oracle_queries: int, seed: int, exact_below: int) -> list[dict[str, Any]]:
    n = len(texts)
    print(f"\n== sweep: LSH parameters on the {n:,}-instruction stream ==")
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(np.arange(n // 2, n), oracle_queries, replace=False))
    results = []
    for num_perm, bands, hits, size in SWEEP:
        params = {
            "num_perm": num_perm,
            "bands": bands,
            "min_band_hits": hits,
            "shingle_size": size,
            "exact_below": exact_below,
        }
        index, decisions, kept_before, clock = run_index(texts, params)
        kept = [t for t, d in zip(texts, decisions, strict=True) if not d]
        oracle = ExactScan(THRESHOLD, kept)
        truth = conditional_truth(texts, kept_before, sample, oracle)
        q = quality(decisions, truth)
        candidates = statistics.mean(len(index.candidates(texts[i])) for i in sample[-200:])
        print(
            f"  num_perm {num_perm:3} bands {bands:2} rows {num_perm // bands} min_band_hits {hits} shingles {size}: "
            f"recall {q['recall']:.4f} ({q['missed']} of {q['oracle_duplicates']} missed), precision "
            f"{q['precision']:.4f}, {clock.cpu / n * 1e6:4.0f} us CPU each, {candidates:,.0f} candidates"
        )
        results.append({"params": params, "quality": q, "cpu_us": clock.cpu / n * 1e6, "candidates": candidates})
    results.append(scheme_collisions(texts[:5000], seed))
    return results


def scheme_collisions(texts: list[str], seed: int, pairs: int = 100_000) -> dict[str, Any]:
    """How often one band of 4 rows collides, against the J**4 a min-wise permutation family gives."""
    shingles = [multiset(rouge_tokens(t)) for t in texts]
    rng = np.random.default_rng(seed)
    left, right = rng.integers(0, len(texts), pairs), rng.integers(0, len(texts), pairs)
    jaccard = np.array(
        [len(shingles[a] & shingles[b]) / len(shingles[a] | shingles[b]) for a, b in zip(left, right, strict=True)]
    )
    bins = [(0.05, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 0.5), (0.5, 0.7)]
    out: dict[str, Any] = {"bins": bins}
    print("  one band of 4 rows: share of random pairs colliding / mean J**4, by Jaccard similarity J")
    for width in (32, 64):
        hasher = MinHasher(128, 1, width)
        sigs = np.stack([hasher.signature(hasher.premix([x.encode() for x in sorted(s)])) for s in shingles])
        bands = (sigs[left] == sigs[right]).reshape(pairs, 32, 4).all(axis=2)
        rates = []
        for lo, hi in bins:
            mask = (jaccard >= lo) & (jaccard < hi) & (left != right)
            rates.append((float(bands[mask].mean()), float(np.mean(jaccard[mask] ** 4))))
        out[f"affine{width}"] = rates
        cells = (f"J {lo}-{hi}: {r:.5f}/{e:.5f}" for (lo, hi), (r, e) in zip(bins, rates, strict=True))
        print(f"    affine{width}: " + "  ".join(cells))
    return out


def multiset(tokens: list[str]) -> set[str]:
    seen: dict[str, int] = {}
    for token in tokens:
        seen[token] = seen.get(token, 0) + 1
    return {token if i == 1 else f"{token}#{i}" for token, n in seen.items() for i in range(1, n + 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000,1000000")
    parser.add_argument("--reference-size", type=int, default=2000)
    parser.add_argument("--oracle-queries", type=int, default=300)
    parser.add_argument("--pool", type=int, default=1_000_000)
    parser.add_argument("--latency-queries", type=int, default=2000)
    parser.add_argument("--restart-sizes", default="100000,1000000")
    parser.add_argument("--sweep-size", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--num-perm", type=int, default=256)
    parser.add_argument("--bands", type=int, default=64)
    parser.add_argument("--min-band-hits", type=int, default=2)
    parser.add_argument("--shingle-size", type=int, default=1)
    parser.add_argument("--exact-below", type=int, default=500)
    parser.add_argument("--json-out", type=Path)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",") if s]
    restart_sizes = [int(s) for s in args.restart_sizes.split(",") if s]
    params = {
        "num_perm": args.num_perm,
        "bands": args.bands,
        "min_band_hits": args.min_band_hits,
        "shingle_size": args.shingle_size,
        "exact_below": args.exact_below,
    }
    with tempfile.TemporaryDirectory(prefix="dedup-bench-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        largest = max([*sizes, args.pool, *restart_sizes, args.sweep_size, args.reference_size])
        texts = corpus(largest, args.seed, workdir)
        queries = corpus(args.latency_queries, args.seed + 1, workdir)
        print(
            f"NearDuplicateIndex(threshold={THRESHOLD}, {', '.join(f'{k}={v}' for k, v in params.items())}); "
            f"corpus seed {args.seed}; {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}"
        )
        report: dict[str, Any] = {"params": params}
        if args.reference_size:
            report["reference"] = reference_section(texts[: args.reference_size], params)
        report["stream"] = stream_section(texts, sizes, params, args.oracle_queries, args.seed)
        if args.pool:
            report["pool"] = pool_section(texts[: args.pool], queries, params)
        if restart_sizes:
            report["restart"] = restart_section(texts, restart_sizes, params, workdir)
        if args.sweep_size:
            report["sweep"] = sweep_section(texts[: args.sweep_size], args.oracle_queries, args.seed, args.exact_below)
        report["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        print(f"\npeak RSS {report['max_rss_mb']:,.0f} MB")
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2, default=float))


if __name__ == "__main__":
    main()
