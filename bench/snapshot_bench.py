"""Snapshot creation at scale, and where its time goes. Prints figures only.

Builds a dataset of N tasks (the shared corpus generator's instructions; one instance each with a
60-250 word output, as generated tasks have), registers a benchmark (the 175 self-instruct seeds), then
times `create_snapshot` once plainly and once under cProfile, printing the stages' cumulative times.

    python bench/snapshot_bench.py [--tasks 60000] [--workdir DIR] [--code-tree PATH]

`--code-tree` runs another checkout's code on the same data (before/after figures on the same load).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CATEGORIES = ("writing", "math", "code", "qa", "brainstorm", "classification", "summarize", "rewrite")
STAGES = ("_select", "find_contamination", "_split", "_write_files", "balance_report", "_generation", "publish")


def build(workdir: Path, tasks: int) -> str:
    from domain.records import Instance, NewTask
    from store import Store
    from store.contamination.benchmarks import register_benchmark
    from store.datasets import create_dataset
    from store.tasks import add_tasks

    corpus = workdir / "corpus.jsonl"
    subprocess.run([sys.executable, str(SHARED / "bench" / "make_instruction_corpus.py"), str(tasks), str(corpus),
                    "--seed", "7"], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    texts = [json.loads(line)["text"] for line in corpus.read_text().splitlines()]
    words = " ".join(texts[:5000]).split()
    rng = random.Random(3)
    store = Store.open(workdir / "db.duckdb")
    dataset = create_dataset(store, name="bench")
    rows = [
        NewTask(
            instruction=text,
            instances=(
                Instance(
                    input=" ".join(rng.choices(words, k=rng.randint(0, 40))),
                    output=" ".join(rng.choices(words, k=rng.randint(60, 250))),
                ),
            ),  # fmt: skip
            category=CATEGORIES[n % len(CATEGORIES)],
        )
        for n, text in enumerate(texts)
    ]
    added = add_tasks(store, dataset.id, rows, source="seed", stage="bench").added
    register_benchmark(store, "selfinstruct", (SHARED / "data" / "self_instruct_seed_tasks.jsonl").read_bytes())
    store.close()
    print(f"dataset: {added} tasks (exact duplicates of the corpus skipped), one benchmark registered")
    return dataset.id


def measure(workdir: Path, dataset_id: str) -> None:
    from store import Store
    from store.snapshots.snapshot import SnapshotSpec, create_snapshot

    store = Store.open(workdir / "db.duckdb")
    for profiled in (False, True):
        out = workdir / "snapshots"
        shutil.rmtree(out, ignore_errors=True)
        profile = cProfile.Profile() if profiled else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        snapshot = create_snapshot(store, dataset_id, SnapshotSpec(), out)
        if profile:
            profile.disable()
        elapsed = time.perf_counter() - started
        print(f"create_snapshot{' (under cProfile)' if profiled else ''}: {elapsed:.1f} s, "
              f"{snapshot.manifest['selection']}")  # fmt: skip
    stats = pstats.Stats(profile)
    stages = {
        name: cumulative
        for (filename, _, name), (_, _, _, cumulative, _) in stats.stats.items()
        if name in STAGES and ("snapshots" in filename or "contamination" in filename or "balance" in filename)
    }
    for name, cumulative in sorted(stages.items(), key=lambda kv: -kv[1]):
        print(f"  {name:20s} {cumulative:6.1f} s")
    store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", type=int, default=60_000)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--code-tree", type=Path, default=REPO)
    args = parser.parse_args()
    sys.path.insert(0, str(args.code_tree.resolve()))
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="snapshot-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    marker = workdir / "dataset_id"
    dataset_id = marker.read_text() if marker.exists() else build(workdir, args.tasks)
    marker.write_text(dataset_id)
    measure(workdir, dataset_id)


if __name__ == "__main__":
    main()
