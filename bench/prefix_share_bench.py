"""How much of one round's prompts a server's prefix cache can reuse, per prompt kind.

vLLM's automatic prefix caching keeps the KV blocks of prompts it has computed and reuses those of a later
prompt's identical prefix, in whole blocks (16 tokens). So what the prompts of a round share must come first.
This builds one round of each kind with the real builders and samplers over the packaged seeds (default
configs, `random.Random(seed)` as a job's round) and prints, per kind:

- shared: the prefix common to all prompts of the round, as a share of a prompt (characters, tokens);
- reusable: the share of the round's prompt tokens a cache could serve, each prompt reusing the longest
  prefix it has in common with an earlier prompt of the round, in whole 16-token blocks (the first prompt
  reuses nothing; a cache warm from earlier rounds would serve the shared header of the first one too).

Tokens are the packaged SmolLM2 tokenizer's (converted into `--cache` once, as the engine does).

    python bench/prefix_share_bench.py [--seed 0] [--cache .cache/bench]
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from domain.job_spec import CodeConfig, ConsistencyConfig, EvolConfig, SelfInstructConfig  # noqa: E402
from domain.records import Example  # noqa: E402
from generators.categories import labelled_tasks  # noqa: E402
from generators.code_prompts import render_code_prompt  # noqa: E402
from generators.code_tasks import CodePool, prompt_examples  # noqa: E402
from generators.consistency import render_answer_prompt as render_consistency_prompt  # noqa: E402
from generators.evol import _ANSWER_EXAMPLES as ANSWER_EXAMPLES  # noqa: E402
from generators.evol import EvolPool, Parent, pick_parents  # noqa: E402
from generators.evol_prompts import render_answer_prompt, render_evol_prompt  # noqa: E402
from generators.judge import JudgeItem, render_judge_prompt, render_label_prompt  # noqa: E402
from generators.prompts import render_classify_prompt, render_instructions_prompt  # noqa: E402
from generators.self_instruct import Pool, bootstrap_examples, instance_prompts  # noqa: E402
from service.defaults import default_seed_bytes  # noqa: E402
from service.methods import default_code_seeds  # noqa: E402

BLOCK = 16  # vLLM's default KV block size: only whole blocks are cached
ROUND = 16  # prompts per round, the default of every method


class Seed(msgspec.Struct, kw_only=True):
    instruction: str
    instances: list[dict[str, str]]
    is_classification: bool = False
    category: str = "uncategorized"


def common(a: Sequence, b: Sequence) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def shared(items: list[Sequence]) -> int:
    return min(common(items[0], other) for other in items) if items else 0


def reusable(items: list[Sequence], block: int = 1) -> int:
    """Units the cache serves: each item's longest prefix in common with an earlier one, in whole blocks."""
    best = [max((common(item, earlier) for earlier in items[:n]), default=0) for n, item in enumerate(items)]
    return sum(length // block * block for length in best)


def kinds() -> dict[str, Callable[[random.Random], list[str]]]:
    """Each prompt kind's round builder, over the packaged seeds (labelled tasks stand in for new ones)."""
    seeds = [msgspec.json.decode(line, type=Seed) for line in default_seed_bytes().splitlines() if line.strip()]
    examples = [
        Example(instruction=s.instruction, is_classification=s.is_classification,
                input=s.instances[0].get("input", ""), output=s.instances[0]["output"])
        for s in seeds
    ]  # fmt: skip
    others = [text for text, _ in labelled_tasks()]  # stand-ins for generated tasks and new candidates
    pool = Pool(seeds=[s.instruction for s in seeds], generated=others[:40], examples=examples,
                seed_categories=[s.category for s in seeds])  # fmt: skip
    new = others[40 : 40 + ROUND]
    flags = [n % 4 == 0 for n in range(ROUND)]  # about a quarter classification, as in the seeds
    labelled = [(s.instruction, s.category) for s in seeds if s.category != "uncategorized"]
    parents = [Parent(task_id=n, instruction=e.instruction, input=e.input, is_classification=e.is_classification)
               for n, e in enumerate(examples)]  # fmt: skip
    items = [JudgeItem(instruction=e.instruction, input=e.input, output=e.output) for e in examples[:ROUND]]

    def same_kind(flag: bool) -> list[Example]:  # as `generators.evol.write_answers` picks its examples
        return [e for e in examples if e.is_classification == flag] or examples

    code = CodePool(seeds=default_code_seeds(), generated=[])
    extra = ConsistencyConfig().samples - 1
    return {
        "self-instruct: instructions": lambda rng: [
            render_instructions_prompt(bootstrap_examples(pool, rng, SelfInstructConfig())) for _ in range(ROUND)
        ],
        "self-instruct: classify": lambda rng: [render_classify_prompt(text) for text in new],
        "self-instruct: instances": lambda rng: instance_prompts(new, flags, pool, rng, 1),
        "code: tasks": lambda rng: [render_code_prompt(prompt_examples(code, rng, CodeConfig())) for _ in range(ROUND)],
        "evol: rewrites": lambda rng: [
            render_evol_prompt(op, p.instruction, p.input)
            for p, op in pick_parents(EvolPool(parents=parents, examples=examples), rng, EvolConfig())
        ],
        "evol: answers": lambda rng: [
            render_answer_prompt(text, None, rng.sample(same_kind(flag), ANSWER_EXAMPLES), is_classification=flag)
            for text, flag in zip(new, flags, strict=True)
        ],
        "judge: instruction": lambda rng: [render_judge_prompt("instruction", item) for item in items],
        "judge: answer": lambda rng: [render_judge_prompt("answer", item) for item in items],
        "judge: label": lambda rng: [
            render_label_prompt(text, sorted({c for _, c in labelled}), labelled) for text in new
        ],
        "consistency: answers": lambda rng: [
            render_consistency_prompt(e.instruction, e.input) for e in examples[:4] for _ in range(extra)
        ],
    }


def tokenizer(cache: Path) -> Callable[[str], list[int]]:
    from tokenizers import Tokenizer

    from generators.model import prepare_default_model

    loaded = Tokenizer.from_file(str(prepare_default_model(cache) / "tokenizer.json"))
    return lambda text: loaded.encode(text, add_special_tokens=False).ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=REPO / ".cache" / "bench")
    args = parser.parse_args()
    encode = tokenizer(args.cache)
    print(f"{'prompt kind':30s} {'prompts':>7s} {'chars':>6s} {'tokens':>6s} "
          f"{'shared chars':>12s} {'shared tokens':>13s} {'reusable tokens':>15s}")  # fmt: skip
    totals = [0, 0]
    for name, build in kinds().items():
        prompts = build(random.Random(args.seed))
        tokens = [encode(p) for p in prompts]
        chars, count = sum(map(len, prompts)), sum(map(len, tokens))
        served = reusable(tokens, BLOCK)
        totals = [a + b for a, b in zip(totals, (served, count), strict=True)]
        print(f"{name:30s} {len(prompts):7d} {chars / len(prompts):6.0f} {count / len(prompts):6.0f} "
              f"{shared(prompts) / (chars / len(prompts)):12.2f} {shared(tokens) / (count / len(prompts)):13.2f} "
              f"{served / count:15.2f}")  # fmt: skip
    print(f"all kinds, one round each: {totals[0] / totals[1]:.2f} of {totals[1]:,} prompt tokens reusable")


if __name__ == "__main__":
    main()
