"""How well does the judge tell good instances from corrupted ones? Scores, AUC, readability, speed.

    .venv/bin/python bench/judge_bench.py [--pairs 20] [--url http://HOST:PORT --model NAME] [--corpus FILE]

1. Starts a vLLM server with the packaged SmolLM2-135M-Instruct on 127.0.0.1 (or uses `--url`, any
   OpenAI-compatible vLLM server, e.g. a large remote judge; `--model` names its served model).
2. Takes `--pairs` seed tasks with their instances from `generators/seeds/default_seeds.jsonl` (spread over
   the categories) as the good items, and makes as many bad items by corrupting them in turn: the answer
   swapped with another task's answer, the answer cut to its first 3 words, the answer replaced by repeated
   nonsense.
3. Judges all items in one `judge_instances` call and prints the mean overall score of good and bad items,
   the AUC of the overall score separating them (ties count half), the share of unreadable judgements, the
   mean scale mass, the per-criterion means, and the seconds per judged item (wall time of the call).
4. With `--corpus` (JSON Lines of {"instruction", "input", "output"} or self-instruct records), also judges
   every line of it and prints the histogram of overall scores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from domain.job_spec import JudgeConfig  # noqa: E402
from domain.quality import Judgement  # noqa: E402
from generators.engine import OpenAICompletionsEngine  # noqa: E402
from generators.judge import JudgeItem, judge_instances  # noqa: E402
from generators.model import DEFAULT_SERVED_NAME, prepare_default_model  # noqa: E402
from generators.vllm_server import VLLMServer  # noqa: E402

SEEDS = REPO / "generators" / "seeds" / "default_seeds.jsonl"
NONSENSE = "blorp zint quaddle " * 6
CORRUPTIONS = ("swapped", "truncated", "nonsense")


def good_items(pairs: int) -> list[JudgeItem]:
    """`pairs` seed instances, taken round-robin over the categories so every kind of task is in."""
    by_category: dict[str, list[JudgeItem]] = {}
    for line in SEEDS.read_text().splitlines():
        record = json.loads(line)
        instance = record["instances"][0]
        item = JudgeItem(instruction=record["instruction"], input=instance["input"], output=instance["output"])
        by_category.setdefault(record["category"], []).append(item)
    queues = list(by_category.values())
    return [queues[n % len(queues)][n // len(queues)] for n in range(pairs)]


def corrupt(items: list[JudgeItem]) -> list[tuple[str, JudgeItem]]:
    """One bad item per good one, the corruption chosen in turn; a swap takes the next item's answer."""
    bad = []
    for n, item in enumerate(items):
        kind = CORRUPTIONS[n % len(CORRUPTIONS)]
        output = _corrupted(items, n, kind)
        if output.strip() == item.output.strip():  # a one-word answer survives truncation: corrupt it otherwise
            kind = "nonsense"
            output = _corrupted(items, n, kind)
        bad.append((kind, JudgeItem(instruction=item.instruction, input=item.input, output=output)))
    return bad


def _corrupted(items: list[JudgeItem], n: int, kind: str) -> str:
    if kind == "swapped":
        return items[(n + 1) % len(items)].output
    if kind == "truncated":
        return " ".join(items[n].output.split()[:3])
    return NONSENSE.strip()


def auc(positives: list[float], negatives: list[float]) -> float:
    """P(a good item scores above a bad one), ties counted half (the Mann-Whitney statistic)."""
    wins = sum((p > n) + 0.5 * (p == n) for p in positives for n in negatives)
    return wins / (len(positives) * len(negatives))


def _by_criterion(name: str) -> Callable[[Judgement], float | None]:
    return lambda j: next(c.score for c in j.readings if c.criterion == name)


def _by_rule(rule: Callable[[list[float]], float]) -> Callable[[Judgement], float | None]:
    """The overall score as `rule` of the criteria would give it, from the same judgements."""
    return lambda j: rule([c.score for c in j.readings]) if j.outcome == "scored" else None


def separation(judgements: list[Judgement], good: int, score: Callable[[Judgement], float | None]) -> str:
    """AUC of `score` over the judgements; the first `good` of them are the good items."""
    scored = [(s, n < good) for n, j in enumerate(judgements) if (s := score(j)) is not None]
    positives, negatives = [s for s, g in scored if g], [s for s, g in scored if not g]
    return f"{auc(positives, negatives):.3f}" if positives and negatives else "n/a"


def _mean(values: list[float]) -> str:
    return f"{statistics.fmean(values):.3f}" if values else "n/a"


def summarise(name: str, judgements: list[Judgement]) -> None:
    outcomes = Counter(j.outcome for j in judgements)
    scores = [j.score for j in judgements if j.score is not None]
    masses = [j.scale_mass for j in judgements if j.scale_mass is not None]
    per_criterion = {c.criterion: [] for j in judgements for c in j.readings}
    for j in judgements:
        for c in j.readings:
            if c.score is not None:
                per_criterion[c.criterion].append(c.score)
    criteria = ", ".join(f"{k} {_mean(v)}" for k, v in per_criterion.items())
    methods = dict(Counter(j.method for j in judgements))
    print(f"{name}: n={len(judgements)} outcomes={dict(outcomes)} mean overall {_mean(scores)} "
          f"({criteria}); mean scale mass {_mean(masses)}; methods {methods}")  # fmt: skip


async def bench(url: str, model: str, args: argparse.Namespace) -> None:
    engine = OpenAICompletionsEngine([url], model, timeout_s=600)
    config = JudgeConfig(enabled=True)
    good = good_items(args.pairs)
    bad = corrupt(good)
    items = good + [item for _, item in bad]
    started = time.monotonic()
    judgements = await judge_instances(engine, items, config, seed=args.seed)
    elapsed = time.monotonic() - started
    good_j, bad_j = judgements[: len(good)], judgements[len(good) :]
    summarise("good", good_j)
    summarise("bad", bad_j)
    for kind in CORRUPTIONS:
        summarise(f"  bad/{kind}", [j for (k, _), j in zip(bad, bad_j, strict=True) if k == kind])
    unreadable = sum(j.outcome == "unreadable" for j in judgements) / len(judgements)
    rules = {
        "overall (min)": _by_rule(min),
        "overall (mean)": _by_rule(statistics.fmean),
        "answer criterion": _by_criterion("answer"),
        "instruction criterion": _by_criterion("instruction"),
    }
    print(
        "AUC good vs bad, scored items only: "
        + ", ".join(f"{name} {separation(judgements, len(good), score)}" for name, score in rules.items())
    )
    paired = [(_by_criterion("answer")(g), _by_criterion("answer")(b)) for g, b in zip(good_j, bad_j, strict=True)]
    paired = [(g, b) for g, b in paired if g is not None and b is not None]
    if paired:
        wins = sum((g > b) + 0.5 * (g == b) for g, b in paired) / len(paired)
        print(f"answer criterion, good above its own corruption: {wins:.3f} of {len(paired)} pairs")
    print(f"unreadable share {unreadable:.3f}")
    print(f"{len(items)} items ({2 * len(items)} judge prompts) in {elapsed:.1f} s: "
          f"{elapsed / len(items):.2f} s per judged item")  # fmt: skip
    if args.show:
        for item, j in zip(items, judgements, strict=True):
            parts = " ".join(f"{c.criterion[0]}={c.score}/{c.scale_mass}" for c in j.readings)
            print(f"  {j.score!s:>6} {parts} | {item.instruction[:50]!r} -> {item.output[:40]!r}")
    if args.corpus:
        await judge_corpus(engine, args.corpus, config, args.seed)
    await engine.aclose()


async def judge_corpus(engine: OpenAICompletionsEngine, path: Path, config: JudgeConfig, seed: int) -> None:
    items = []
    for line in path.read_text().splitlines():
        record = json.loads(line)
        instance = (record.get("instances") or [record])[0]
        items.append(JudgeItem(instruction=record["instruction"], input=instance.get("input", ""),
                               output=instance["output"]))  # fmt: skip
    started = time.monotonic()
    judgements = await judge_instances(engine, items, config, seed=seed)
    elapsed = time.monotonic() - started
    summarise(f"corpus {path.name}", judgements)
    bins = Counter(round(j.score) for j in judgements if j.score is not None)
    print("histogram of overall scores (rounded): " + ", ".join(f"{k}: {bins.get(k, 0)}" for k in range(1, 6)))
    print(f"{len(items)} items in {elapsed:.1f} s: {elapsed / max(len(items), 1):.2f} s per judged item")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="a running OpenAI-compatible vLLM server (default: start the packaged model)")
    parser.add_argument("--model", default=DEFAULT_SERVED_NAME, help="the served model name at --url")
    parser.add_argument("--corpus", type=Path, help="JSON Lines to judge as well (histogram of scores)")
    parser.add_argument("--show", action="store_true", help="print every item's scores")
    args = parser.parse_args()
    if args.url:
        asyncio.run(bench(args.url, args.model, args))
        return
    workdir = Path(tempfile.mkdtemp(prefix="instructforge-judgebench-"))
    model = prepare_default_model(Path(os.environ.get("INSTRUCTFORGE_TEST_CACHE", REPO / ".cache" / "test")))
    with VLLMServer(str(model), served_model_name=DEFAULT_SERVED_NAME, log_path=workdir / "vllm.log") as server:
        asyncio.run(bench(server.base_url, DEFAULT_SERVED_NAME, args))


if __name__ == "__main__":
    main()
