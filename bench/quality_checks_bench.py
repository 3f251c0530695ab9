"""Model-free quality checks (`generators.quality_checks`) applied offline to a corpus: per-rule counts.

Run from the repository root:

    .venv/bin/python bench/quality_checks_bench.py /work/corpus/accepted.jsonl /work/corpus/rejected.jsonl \\
        [--seeds ../shared/data/self_instruct_seed_tasks.jsonl generators/seeds/default_seeds.jsonl] \\
        [--sample 5] [--seed 0] [--rules '{"repeat_top_share": 0.4}'] [--dump DIR]

A corpus line is either an accepted task, `{"instruction", "instances": [{"input", "output"}], ...}`
(seed files have this shape too), or a rejected candidate, `{"reason", "instruction", "detail"}`, whose
detail holds `input` and `output` when the candidate reached the instance stage. Every instruction goes
through `not_a_task`; every instance (an accepted one, or a rejected candidate's) through the instance
checks. For each rule it prints:

  alone   how many it fires on by itself, of how many judged
  first   how many it names under the fixed order (`INSTANCE_CHECKS`: one reason per rejection)

then `--sample` random examples per rule (`--seed`), and with `--seeds`, the same counts on seed tasks
(every firing there is a false positive: the seeds are written by people). `--dump DIR` writes every
firing of each rule, as JSON Lines `<rule>.jsonl`, for reading them all.
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import msgspec

from domain.job_spec import QualityRules
from generators.quality_checks import (
    INSTANCE_CHECKS,
    QUALITY_REASONS,
    instance_quality_rejection,
    instruction_quality_rejection,
    not_a_task,
)

Item = dict[str, Any]


def read_corpus(paths: list[Path]) -> tuple[list[Item], list[Item]]:
    """(instructions, instances): each a dict with `instruction`, `origin` and, for instances, input/output."""
    instructions: list[Item] = []
    instances: list[Item] = []
    for path in paths:
        for line in path.read_text().splitlines():
            if not line.strip():
                continue
            record = json.loads(line)
            origin = f"{path.name}:{record.get('reason', 'accepted')}"
            text = record.get("instruction") or ""
            if text:
                instructions.append({"instruction": text, "origin": origin})
            pairs = record.get("instances") or [record.get("detail") or {}]
            for pair in pairs:
                if "output" in pair:
                    instances.append({"instruction": text, "input": pair.get("input", ""),
                                      "output": pair["output"], "origin": origin})  # fmt: skip
    return instructions, instances


def judge(instructions: list[Item], instances: list[Item], rules: QualityRules) -> dict[str, dict[str, list[Item]]]:
    """{"alone": {rule: firings}, "first": {rule: firings}}; each firing is the item with its detail."""
    alone: dict[str, list[Item]] = defaultdict(list)
    first: dict[str, list[Item]] = defaultdict(list)
    for item in instructions:
        if (detail := not_a_task(item["instruction"])) is not None:
            alone["not_a_task"].append({**item, "detail": detail})
        if (verdict := instruction_quality_rejection(item["instruction"], rules)) is not None:
            first[verdict[0]].append({**item, "detail": verdict[1]})
    for item in instances:
        args = (item["instruction"], item["input"], item["output"], rules)
        for name, check in INSTANCE_CHECKS:
            if (detail := check(*args)) is not None:
                alone[name].append({**item, "detail": detail})
        if (verdict := instance_quality_rejection(*args)) is not None:
            first[verdict[0]].append({**item, "detail": verdict[1]})
    return {"alone": alone, "first": first}


def print_counts(title: str, instructions: list[Item], instances: list[Item], found: dict) -> None:
    print(f"\n== {title}: {len(instructions)} instructions, {len(instances)} instances")
    print(f"{'rule':<20} {'alone':>12} {'first':>8}")
    for rule in QUALITY_REASONS:
        judged = len(instructions) if rule == "not_a_task" else len(instances)
        alone, first = len(found["alone"].get(rule, [])), len(found["first"].get(rule, []))
        print(f"{rule:<20} {alone:>5} / {judged:<5} {first:>8}")


def print_sample(found: dict, size: int, rng: random.Random) -> None:
    for rule in QUALITY_REASONS:
        hits = found["first"].get(rule, [])
        for item in rng.sample(hits, min(size, len(hits))):
            shown = {k: (v[:160] if isinstance(v, str) else v) for k, v in item.items()}
            print(f"[{rule}] {json.dumps(shown, ensure_ascii=False)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="+", type=Path)
    parser.add_argument("--seeds", nargs="*", type=Path, default=[])
    parser.add_argument("--sample", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rules", default="{}", help="QualityRules fields as JSON")
    parser.add_argument("--dump", type=Path, default=None)
    args = parser.parse_args()
    rules = msgspec.json.decode(args.rules.encode(), type=QualityRules)
    print("rules:", msgspec.json.encode(rules).decode())
    instructions, instances = read_corpus(args.corpus)
    found = judge(instructions, instances, rules)
    print_counts("corpus", instructions, instances, found)
    print_sample(found, args.sample, random.Random(args.seed))
    if args.dump:
        args.dump.mkdir(parents=True, exist_ok=True)
        for rule, hits in found["first"].items():
            (args.dump / f"{rule}.jsonl").write_text("".join(json.dumps(h, ensure_ascii=False) + "\n" for h in hits))
    if args.seeds:
        seed_instructions, seed_instances = read_corpus(args.seeds)
        seed_found = judge(seed_instructions, seed_instances, rules)
        print_counts("seeds (every firing is a false positive)", seed_instructions, seed_instances, seed_found)
        print_sample(seed_found, 100, random.Random(args.seed))


if __name__ == "__main__":
    main()
