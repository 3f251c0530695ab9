"""Independent Python computations of what the store must answer for a seed file (the test oracle)."""

from __future__ import annotations

import json
import math
from pathlib import Path


def load_seeds(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def instance_rows(seeds: list[dict]) -> list[tuple[str, str, str]]:
    return [(s["instruction"].strip(), i["input"], i["output"]) for s in seeds for i in s["instances"]]


def nearest_rank(values: list[int], q: float) -> int:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(len(ordered) * q) - 1)]


def length_summary(values: list[int]) -> dict:
    return {
        "min": min(values),
        "p50": nearest_rank(values, 0.5),
        "p90": nearest_rank(values, 0.9),
        "p99": nearest_rank(values, 0.99),
        "max": max(values),
        "mean": round(sum(values) / len(values), 2),
    }


def expected_line(fmt: str, instruction: str, input: str, output: str) -> dict:
    prompt = f"{instruction}\n\n{input}" if input else instruction
    if fmt == "alpaca":
        return {"instruction": instruction, "input": input, "output": output}
    if fmt == "sharegpt":
        return {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": output}]}
    if fmt == "messages":
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]}
    if fmt == "prompt_completion":
        return {
            "prompt": [{"role": "user", "content": prompt}],
            "completion": [{"role": "assistant", "content": output}],
        }
    raise ValueError(fmt)
