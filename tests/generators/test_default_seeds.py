"""The default seed set shipped with the generators: well-formed, balanced, varied, and our own."""

from __future__ import annotations

import itertools
import json
import re
from collections import Counter
from importlib.resources import files
from pathlib import Path

import pytest

from domain.fingerprint import fingerprint
from domain.records import NewTask
from store.ingest.formats import SeedLimits, parse_seed_upload

CATEGORIES = {
    "writing",
    "rewriting",
    "summarization",
    "extraction",
    "classification",
    "reasoning",
    "math",
    "code",
    "brainstorming",
    "open_qa",
}
MIN_PER_CATEGORY = 8
MAX_ROUGE_L = 0.7
SELF_INSTRUCT_SEEDS = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"

_TOKEN = re.compile(r"[a-z0-9]+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def _lcs_length(a: list[str], b: list[str]) -> int:
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(candidate: list[str], reference: list[str]) -> float:
    """Word-level ROUGE-L F-measure (beta = 1) of two token lists."""
    lcs = _lcs_length(candidate, reference)
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall)


def test_rouge_l_helper() -> None:
    assert rouge_l(_tokens("Write a poem."), _tokens("write a POEM")) == 1.0
    assert rouge_l(_tokens("alpha beta"), _tokens("gamma delta")) == 0.0
    # lcs("a b c d", "a c e") = 2 -> P = 2/4, R = 2/3, F = 4/7
    assert rouge_l(["a", "b", "c", "d"], ["a", "c", "e"]) == pytest.approx(4 / 7)


@pytest.fixture(scope="module")
def seed_bytes() -> bytes:
    resource = files("generators") / "seeds" / "default_seeds.jsonl"
    assert resource.is_file(), "generators/seeds/default_seeds.jsonl is missing from the package"
    return resource.read_bytes()


@pytest.fixture(scope="module")
def tasks(seed_bytes: bytes) -> list[NewTask]:
    return parse_seed_upload(seed_bytes, "jsonl", SeedLimits(), "test")


def test_every_line_is_a_self_instruct_record_with_exactly_the_documented_keys(seed_bytes: bytes) -> None:
    assert seed_bytes.isascii()
    lines = [line for line in seed_bytes.decode().splitlines() if line.strip()]
    for line in lines:
        record = json.loads(line)
        assert set(record) == {"id", "name", "instruction", "instances", "is_classification", "category"}, record
        assert len(record["instances"]) in (1, 2, 3), record["id"]


def test_parses_whole_with_the_project_parser(tasks: list[NewTask]) -> None:
    assert all(task.provenance["format"] == "self_instruct" for task in tasks)
    assert len(tasks) >= 100


def test_categories_are_balanced_and_known(tasks: list[NewTask]) -> None:
    counts = Counter(task.category for task in tasks)
    assert set(counts) == CATEGORIES, set(counts) ^ CATEGORIES
    thin = {category: n for category, n in counts.items() if n < MIN_PER_CATEGORY}
    assert not thin, f"categories with fewer than {MIN_PER_CATEGORY} tasks: {thin}"


def test_classification_share(tasks: list[NewTask]) -> None:
    share = sum(task.is_classification for task in tasks) / len(tasks)
    assert 0.15 <= share <= 0.20, share
    assert all(task.is_classification for task in tasks if task.category == "classification")


def test_ids_and_names_are_unique(tasks: list[NewTask]) -> None:
    ids = [task.provenance["seed_id"] for task in tasks]
    names = [task.provenance["seed_name"] for task in tasks]
    assert [i for i, n in Counter(ids).items() if n > 1] == []
    assert [i for i, n in Counter(names).items() if n > 1] == []


def test_no_two_instructions_share_a_fingerprint(tasks: list[NewTask]) -> None:
    prints = Counter(fingerprint(task.instruction) for task in tasks)
    duplicates = [task.instruction for task in tasks if prints[fingerprint(task.instruction)] > 1]
    assert duplicates == []


def test_instructions_are_not_near_duplicates_of_each_other(tasks: list[NewTask]) -> None:
    tokenized = [(task.instruction, _tokens(task.instruction)) for task in tasks]
    too_close = [
        (round(score, 3), a, b)
        for (a, ta), (b, tb) in itertools.combinations(tokenized, 2)
        if (score := rouge_l(ta, tb)) > MAX_ROUGE_L
    ]
    assert too_close == []


def test_instructions_are_not_near_duplicates_of_the_self_instruct_seeds(tasks: list[NewTask]) -> None:
    assert SELF_INSTRUCT_SEEDS.is_file(), f"missing {SELF_INSTRUCT_SEEDS}: the tests need ../shared beside the checkout"
    references = [
        _tokens(json.loads(line)["instruction"])
        for line in SELF_INSTRUCT_SEEDS.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    assert len(references) == 175
    too_close = [
        (round(score, 3), task.instruction, " ".join(reference))
        for task in tasks
        for reference in references
        if (score := rouge_l(_tokens(task.instruction), reference)) > MAX_ROUGE_L
    ]
    assert too_close == []


def test_instances_have_real_outputs(tasks: list[NewTask]) -> None:
    for task in tasks:
        for instance in task.instances:
            assert instance.output.strip(), task.provenance["seed_id"]
            assert instance.input != instance.output, task.provenance["seed_id"]


def test_code_functions_compile(tasks: list[NewTask]) -> None:
    compiled = 0
    for task in tasks:
        if task.category != "code":
            continue
        for instance in task.instances:
            if instance.output.startswith("def "):
                compile(instance.output, "<seed>", "exec")
                compiled += 1
    assert compiled > 0
