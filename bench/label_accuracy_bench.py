"""How far can the category of a generated task be trusted? Before/after the confidence threshold.

    .venv/bin/python bench/label_accuracy_bench.py [--embeddings] [--held-out FILE]

Builds the category model from the 120 packaged default seeds, as a self-instruct job on the `default`
dataset does, then prints:
1. leave-one-out on the seeds (what the temperature and the threshold are chosen on): the fitted temperature,
   and coverage / accuracy on the covered seeds for a range of thresholds;
2. on the held-out labelled set (`generators/seeds/labelled_tasks.jsonl`, generated tasks labelled by hand):
   `label_accuracy` before (every guess taken) and after (`min_label_confidence`), and the confusion of
   the labels given.
`--embeddings` uses all-MiniLM-L6-v2 centroids (the semantic tier's model) instead of TF-IDF.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generators.categories import CategoryConfig, CategoryModel, decide, label_accuracy  # noqa: E402
from store.records import DEFAULT_CATEGORY  # noqa: E402

THRESHOLDS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


def seeds() -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in (REPO / "generators/seeds/default_seeds.jsonl").read_text().splitlines()]
    return [(row["instruction"], row["category"]) for row in rows]


def held_out_set(path: Path) -> list[tuple[str, str]]:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    return [(row["instruction"], row["category"]) for row in rows]


def leave_one_out(model: CategoryModel, labelled: list[tuple[str, str]]) -> None:
    held_out = model.centroids.held_out()
    print(f"seeds, leave-one-out ({len(labelled)} tasks), fitted temperature {model.temperature:.4f}")
    for threshold in THRESHOLDS:
        labels = [decide(s, model.temperature, threshold) for s in held_out]
        covered = [label.category == truth for label, (_, truth) in zip(labels, labelled, strict=True)
                   if label.category != DEFAULT_CATEGORY]  # fmt: skip
        print(f"  threshold {threshold:.1f}: coverage {len(covered) / len(labelled):.3f}, "
              f"accuracy on covered {sum(covered) / max(1, len(covered)):.3f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--embeddings", action="store_true")
    parser.add_argument("--held-out", type=Path, default=REPO / "generators/seeds/labelled_tasks.jsonl")
    parser.add_argument("--threshold", type=float, default=CategoryConfig().min_label_confidence)
    args = parser.parse_args()
    embedder = None
    if args.embeddings:
        from store.semantic import Embedder

        embedder = Embedder()
    started = time.perf_counter()
    labelled = seeds()
    model = CategoryModel(labelled, CategoryConfig(min_label_confidence=args.threshold), embedder=embedder)
    print(f"model built in {time.perf_counter() - started:.1f} s ({'embeddings' if embedder else 'TF-IDF'})")
    leave_one_out(model, labelled)
    if not args.held_out.is_file():
        print(f"no held-out set at {args.held_out}")
        return
    tasks = held_out_set(args.held_out)
    found = label_accuracy(model, tasks)
    print(f"\nheld-out {args.held_out.name}: {found.total} tasks, "
          f"{Counter(c for _, c in tasks).most_common()}")  # fmt: skip
    print(f"  before (every guess): accuracy {found.forced_accuracy:.3f}")
    print(f"  after (confidence >= {found.min_label_confidence}): accuracy {found.accuracy:.3f}, "
          f"coverage {found.coverage:.3f}, accuracy on covered {found.covered_accuracy:.3f}")  # fmt: skip
    labels = model.infer_many([text for text, _ in tasks])
    confusion = Counter((truth, label.category) for label, (_, truth) in zip(labels, tasks, strict=True))
    print("  (true -> given) pairs that differ, most common first:")
    for (truth, given), count in confusion.most_common():
        if truth != given:
            print(f"    {truth:>15} -> {given:<15} {count}")


if __name__ == "__main__":
    main()
