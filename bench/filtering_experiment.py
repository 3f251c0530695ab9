"""Does filtering by quality signals help training? Base vs random vs filtered, on a clean held-out set.

Run after a self-instruct job that stored every signal without rejecting by them (checks `record_only`, the
judge on without `min_quality`, self-consistency on with `min_agreement` 0): the experiment's dataset then holds
the packaged default seeds plus the job's generated tasks. This script

1. makes the held-out set: a store of its own with the packaged default seeds (written by people) and the
   packaged code seeds (proven in the sandbox), snapshotted with half of each category in validation;
2. makes two snapshots of the generated tasks only (the seeds are never trained on), of equal size: the best
   by the signals (no model-free flag, agreement >= 0.6, highest judge score first) and a seeded random choice;
3. fine-tunes the base model on each (the same settings) and evaluates base, random-tuned and filtered-tuned on
   the held-out validation split: validation loss, ROUGE-L and exact match, pass@1 on the proven code tasks.

    .venv/bin/python bench/filtering_experiment.py --url http://127.0.0.1:8791 --dataset DS \\
        --base-model .cache/test/models/SmolLM2-135M-Instruct --out /tmp/filtering [--size 100]

Each step writes under --out and is skipped when its output is there, so a stopped run goes on where it was.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from generators.sandbox import Sandbox  # noqa: E402
from service.defaults import default_seed_bytes  # noqa: E402
from service.methods import add_default_code_seeds  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.ingest.formats import SeedLimits  # noqa: E402
from store.ingest.seeds import NearDuplicateCheck, ingest_seeds  # noqa: E402
from store.snapshots.snapshot import SnapshotSpec, create_snapshot  # noqa: E402

# min_quality 1.0 (the bottom of the scale) keeps judged tasks only: the experiment's job judged each of its
# own, so tasks that other jobs added to the dataset (evol, code) stay out of both selections.
FILTERED = {"exclude_flagged": True, "min_agreement": 0.6, "rank_by": "quality", "min_quality": 1.0}
RANDOM = {"rank_by": "random", "min_quality": 1.0}


def held_out_snapshot(out: Path) -> Path:
    folder = out / "heldout"
    if folder.exists():
        return folder
    store = Store.open(out / "heldout.duckdb")
    dataset_id = create_dataset(store, name="heldout").id
    ingest_seeds(store, dataset_id, default_seed_bytes(), "jsonl", SeedLimits(), NearDuplicateCheck())
    with Sandbox(max_parallel=2) as sandbox:
        add_default_code_seeds(store, dataset_id, sandbox)
    spec = SnapshotSpec(validation_fraction=0.5, seed=1)
    snapshot = create_snapshot(store, dataset_id, spec, out / "heldout-snapshots")
    store.close()
    shutil.copytree(snapshot.path, folder)
    return folder


def generated_count(url: str, dataset_id: str) -> int:
    stats = httpx.get(f"{url}/v1/datasets/{dataset_id}/stats", params={"balance": "false"}, timeout=60).json()
    return stats["by_source"].get("generated", 0)


def pulled_snapshot(url: str, dataset_id: str, name: str, selection: dict, size: int, out: Path) -> Path:
    """A snapshot of the generated tasks made by the service, downloaded file by file (hashes checked)."""
    folder = out / name
    if folder.exists():
        return folder
    body = {"source": "generated", "max_tasks": size, "validation_fraction": 0.1, "seed": 1, **selection}
    snapshot = httpx.post(f"{url}/v1/datasets/{dataset_id}/snapshots", json=body, timeout=600).json()
    work = out / f".{name}.partial"
    work.mkdir(parents=True, exist_ok=True)
    for entry in [*snapshot["files"], *snapshot["documents"]]:
        (work / entry["name"]).write_bytes(httpx.get(f"{url}{entry['url']}", timeout=600).content)
    work.rename(folder)
    return folder


def trainer(*args: str) -> None:
    command = [sys.executable, "-m", "trainer", *args]
    print("+", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", required=True)
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--base-model", required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--size", type=int, default=0, help="tasks per training snapshot (default: half of them)")
    parser.add_argument("--epochs", default="3")
    parser.add_argument("--threads", default="0")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    heldout = held_out_snapshot(args.out)
    size = args.size or generated_count(args.url, args.dataset) // 2
    snapshots = {name: pulled_snapshot(args.url, args.dataset, name, selection, size, args.out)
                 for name, selection in (("filtered", FILTERED), ("random", RANDOM))}  # fmt: skip
    print(json.dumps({name: json.loads((path / "manifest.json").read_text())["counts"] for name, path in
                      snapshots.items()}, indent=1))  # fmt: skip
    for name, snapshot in snapshots.items():
        tuned = args.out / f"tuned-{name}"
        if not (tuned / "training_log.json").exists():
            trainer(
                "finetune",
                "--snapshot",
                str(snapshot),
                "--base-model",
                args.base_model,
                "--out",
                str(tuned),
                "--epochs",
                args.epochs,
                "--max-length",
                "512",
                "--threads",
                args.threads,
                "--seed",
                "0",
            )
        report = args.out / f"report-{name}"
        if not (report / "comparison.json").exists():
            trainer("evaluate", "--snapshot", str(heldout), "--model", str(tuned), "--compare", args.base_model,
                    "--out", str(report), "--samples", "1", "--k", "1", "--temperature", "0.2",
                    "--max-new-tokens", "256", "--max-eval-tasks", "60", "--threads", args.threads)  # fmt: skip
    for name in snapshots:
        print(name, (args.out / f"report-{name}" / "comparison.md").read_text())


if __name__ == "__main__":
    main()
