"""Evol-Instruct against the real engine: what survives each operator, and how length moves.

    INSTRUCTFORGE_TEST_CACHE=/work/main/.cache/test .venv/bin/python bench/evol_bench.py \
        [--rounds 2] [--parents 16] [--seed 0] [--examples 5] [--dump evol.json] [--url http://...]

Starts a vLLM server with the packaged SmolLM2-135M-Instruct (as the test fixtures do), builds a pool from
the 120 default seeds (`generators/seeds/default_seeds.jsonl`), and runs `run_evol_round` `--rounds` times
with `--parents` parents each (the pool grows with what is accepted, as in a job). Prints, per round and
operator: tasks in and out, rejections by reason, mean instruction length in words of the parents, of all
rewritten candidates and of the accepted tasks; then a few accepted examples (parent -> evolved -> answer).
`--dump` writes every accepted task and rejection as JSON, to read what each rule rejected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter, defaultdict
from importlib.resources import files
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from store.fingerprint import fingerprint  # noqa: E402
from store.near_duplicates import NearDuplicateIndex  # noqa: E402

from generators.engine import OpenAICompletionsEngine, Sampling  # noqa: E402
from generators.evol import EvolConfig, EvolPool, Parent, run_evol_round  # noqa: E402
from generators.evol_prompts import OPERATORS  # noqa: E402
from generators.filters import InstructionRules  # noqa: E402
from generators.model import DEFAULT_SERVED_NAME, prepare_default_model  # noqa: E402
from generators.prompts import Example  # noqa: E402
from generators.self_instruct import RoundResult  # noqa: E402
from generators.vllm_server import VLLMServer  # noqa: E402

_READY_TIMEOUT_S = 900.0  # the machine is shared: a start under load takes far longer than the idle 30 s


def seed_pool() -> tuple[EvolPool, list[str]]:
    lines = files("generators").joinpath("seeds", "default_seeds.jsonl").read_text().splitlines()
    seeds = [json.loads(line) for line in lines if line.strip()]
    parents = [
        Parent(task_id=s["id"], instruction=s["instruction"], input=s["instances"][0]["input"],
               is_classification=s["is_classification"], category=s["category"])
        for s in seeds
    ]  # fmt: skip
    examples = [
        Example(instruction=s["instruction"], input=s["instances"][0]["input"], output=s["instances"][0]["output"],
                is_classification=s["is_classification"])
        for s in seeds
    ]  # fmt: skip
    texts = [s["instruction"] for s in seeds]
    return EvolPool(parents=parents, fingerprints={fingerprint(t) for t in texts}, examples=examples), texts


def _words(texts: list[str]) -> str:
    return f"{sum(len(t.split()) for t in texts) / len(texts):5.1f}" if texts else "    -"


def report(number: int, result: RoundResult, seconds: float) -> None:
    print(f"\n== round {number}: {seconds:.0f} s, {result.tokens} output tokens")
    print("   stages:", {k: v for k, v in result.stages.items() if "." not in k})
    by_op: dict[str, Counter] = defaultdict(Counter)
    parents: dict[str, list[str]] = defaultdict(list)
    candidates: dict[str, list[str]] = defaultdict(list)
    for reason, text, detail in result.rejections:
        by_op[detail.get("operator", "?")][reason] += 1
        parents[detail.get("operator", "?")].append(detail.get("parent_instruction", ""))
        if text:
            candidates[detail.get("operator", "?")].append(text)
    accepted: dict[str, list[str]] = defaultdict(list)
    for task in result.accepted:
        op = task.provenance["operator"]
        accepted[op].append(task.instruction)
        parents[op].append(task.provenance["parent_instruction"])
        candidates[op].append(task.instruction)
    print(f"   {'operator':<19}{'in':>3}{'out':>4}  words: parent cand. kept  rejections")
    for op in OPERATORS:
        n_in, n_out = result.stages[f"{op}.in"], result.stages[f"{op}.out"]
        words = f"{_words(parents[op])} {_words(candidates[op])} {_words(accepted[op])}"
        print(f"   {op:<19}{n_in:>3}{n_out:>4}  {words:>24}  {dict(by_op[op].most_common())}")


def examples(results: list[RoundResult], count: int) -> None:
    tasks = [t for r in results for t in r.accepted][:count]
    print(f"\n== {len(tasks)} accepted examples")
    for task in tasks:
        p = task.provenance
        print(f"-- {p['operator']} (depth {p['evol_depth']}), parent {p['parent_id']}")
        print(f"   parent : {p['parent_instruction']}")
        print(f"   evolved: {task.instruction}")
        if task.instances[0].input:
            print(f"   input  : {task.instances[0].input[:200]!r}")
        print(f"   answer : {task.instances[0].output[:300]!r}")


async def run(url: str, args: argparse.Namespace) -> list[RoundResult]:
    # A long timeout: on a shared, loaded machine a request waits minutes, and a timed-out one is retried.
    engine = OpenAICompletionsEngine([url], DEFAULT_SERVED_NAME, timeout_s=args.timeout_s)
    pool, texts = seed_pool()
    index = NearDuplicateIndex(InstructionRules().near_duplicate_threshold, texts)
    config = EvolConfig(parents_per_round=args.parents)
    results = []
    for number in range(1, args.rounds + 1):
        round_seed = args.seed * 1_000_003 + number  # as the job worker seeds its rounds
        started = time.perf_counter()
        result = await run_evol_round(
            engine, pool, random.Random(round_seed), config=config, sampling=Sampling(), rules=InstructionRules(),
            index=index, seed=round_seed, provenance={"round": number},
        )  # fmt: skip
        report(number, result, time.perf_counter() - started)
        results.append(result)
    await engine.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--parents", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--examples", type=int, default=5)
    parser.add_argument("--dump", type=Path, default=None)
    parser.add_argument("--timeout-s", type=float, default=900.0, help="per engine request")
    parser.add_argument("--url", default=None, help="an OpenAI-compatible server already running (no own server)")
    args = parser.parse_args()
    if args.url:
        finish(asyncio.run(run(args.url, args)), args)
        return
    cache = Path(os.environ.get("INSTRUCTFORGE_TEST_CACHE", REPO / ".cache" / "test"))
    model = prepare_default_model(cache)
    log = Path(tempfile.mkdtemp(prefix="instructforge-evolbench-")) / "vllm.log"
    server = VLLMServer(str(model), served_model_name=DEFAULT_SERVED_NAME, log_path=log)
    server.start()
    try:
        server.wait_ready(timeout=_READY_TIMEOUT_S)
        results = asyncio.run(run(server.base_url, args))
    finally:
        server.stop()
    finish(results, args)


def finish(results: list[RoundResult], args: argparse.Namespace) -> None:
    examples(results, args.examples)
    if args.dump:
        dump = [{"tasks": r.accepted, "rejections": r.rejections, "stages": r.stages} for r in results]
        args.dump.write_bytes(msgspec.json.format(msgspec.json.encode(dump), indent=1))
        print(f"\nwritten: {args.dump}")


if __name__ == "__main__":
    main()
