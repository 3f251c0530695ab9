"""Small snapshot folders written exactly as the exporter lays them out (manifest + JSONL files)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from trainer.formats import user_turn

FORMATS = ("prompt_completion", "messages", "alpaca", "sharegpt")


def render(instruction: str, input_text: str, output: str, fmt: str) -> dict[str, Any]:
    """One task in a snapshot format, as store/export.py renders it."""
    prompt = user_turn(instruction, input_text)
    if fmt == "alpaca":
        return {"instruction": instruction, "input": input_text, "output": output}
    if fmt == "sharegpt":
        return {"conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": output}]}
    if fmt == "messages":
        return {"messages": [{"role": "user", "content": prompt}, {"role": "assistant", "content": output}]}
    return {"prompt": [{"role": "user", "content": prompt}], "completion": [{"role": "assistant", "content": output}]}


def write_snapshot(
    folder: Path,
    fmt: str,
    train: list[tuple[str, str, str]],
    validation: list[tuple[str, str, str]],
    code_tests: list[dict[str, Any]] | None = None,
) -> Path:
    """Write a snapshot of (instruction, input, output) triples; returns the folder."""
    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, dict[str, Any]] = {}
    splits = {"train.jsonl": train, "validation.jsonl": validation}
    for name, triples in splits.items():
        files[name] = _write_lines(folder / name, [render(*triple, fmt) for triple in triples])
    if code_tests:
        files["code_tests.jsonl"] = _write_lines(folder / "code_tests.jsonl", code_tests)
    content = hashlib.sha256("".join(f"{n}:{e['sha256']}\n" for n, e in sorted(files.items())).encode()).hexdigest()
    manifest = {
        "snapshot_id": "sn_test0001",
        "dataset_id": "ds_test",
        "dataset_name": "fixture",
        "format": fmt,
        "files": files,
        "counts": {"train": {"records": len(train)}, "validation": {"records": len(validation)}},
        "content_sha256": content,
        "created_at": "2025-01-01T00:00:00+00:00",
        "spec": {"seed": 0},
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=2))
    (folder / "README.md").write_text("# fixture snapshot\n")
    return folder


def _write_lines(path: Path, records: list[dict[str, Any]]) -> dict[str, Any]:
    data = b"".join(json.dumps(record).encode() + b"\n" for record in records)
    path.write_bytes(data)
    return {"sha256": hashlib.sha256(data).hexdigest(), "records": len(records), "bytes": len(data)}


# A small, very regular dataset: a few steps of LoRA visibly lower the loss on its held-out answers.
_NUMBERS = [(3, 4), (12, 7), (25, 17), (8, 9), (31, 11), (14, 6), (40, 2), (19, 23), (5, 5), (27, 13), (16, 18),
            (9, 30), (21, 22), (7, 35)]  # fmt: skip
_WORDS = ["apple", "river", "planet", "candle", "garden", "window", "silver", "forest", "pocket", "marble", "tiger",
          "bottle", "meadow"]  # fmt: skip
_CODE = [
    ("add", "returns the sum of a and b", "a, b", "return a + b", ["assert add(2, 3) == 5", "assert add(-1, 1) == 0"]),
    ("square", "returns x squared", "x", "return x * x", ["assert square(3) == 9", "assert square(-4) == 16"]),
    (
        "is_even",
        "returns True when n is even",
        "n",
        "return n % 2 == 0",
        ["assert is_even(4)", "assert not is_even(7)"],
    ),
    ("double", "returns twice x", "x", "return 2 * x", ["assert double(21) == 42"]),
    ("negate", "returns -x", "x", "return -x", ["assert negate(5) == -5"]),
    ("last", "returns the last item of a list xs", "xs", "return xs[-1]", ["assert last([1, 2, 3]) == 3"]),
    ("first", "returns the first item of a list xs", "xs", "return xs[0]", ["assert first([7, 8]) == 7"]),
    ("halve", "returns x divided by 2", "x", "return x / 2", ["assert halve(9) == 4.5"]),
]
VALIDATION_CODE = 3  # the last three code tasks are held out


def text_tasks() -> tuple[list[tuple[str, str, str]], list[tuple[str, str, str]]]:
    """(train, validation): three kinds of templated tasks, the first of each kind (two sums) held out."""
    sums = [("Add the two numbers.", f"{a} and {b}", f"The sum of {a} and {b} is {a + b}.") for a, b in _NUMBERS]
    backwards = [("Spell the word backwards.", w, f"The word {w} backwards is {w[::-1]}.") for w in _WORDS]
    lengths = [(f"How many letters are in the word '{w}'?", "", f"The word {w} has {len(w)} letters.") for w in _WORDS]
    validation = sums[:2] + backwards[:2] + lengths[:1]
    return sums[2:] + backwards[2:] + lengths[1:], validation


def code_task(index: int) -> tuple[tuple[str, str, str], dict[str, Any]]:
    name, does, args, body, tests = _CODE[index]
    instruction = f"Write a Python function `{name}({args})` that {does}."
    solution = f"def {name}({args}):\n    {body}\n"
    answer = f"```python\n{solution}```"
    split = "validation" if index >= len(_CODE) - VALIDATION_CODE else "train"
    line = {"split": split, "task_id": 100 + index, "instruction": instruction, "input": "", "solution": solution,
            "tests": tests, "entry_point": name}  # fmt: skip
    return (instruction, "", answer), line


def training_snapshot(folder: Path, fmt: str = "prompt_completion") -> Path:
    """40 train / 8 validation records, three of the validation ones code tasks with tests."""
    train, validation = text_tasks()
    code = [code_task(i) for i in range(len(_CODE))]
    train += [triple for triple, line in code if line["split"] == "train"]
    validation += [triple for triple, line in code if line["split"] == "validation"]
    return write_snapshot(folder, fmt, train, validation, [line for _, line in code])
