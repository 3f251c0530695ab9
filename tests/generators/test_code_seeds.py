"""The default CODE seed tasks: well-formed, runnable, passing their own tests, varied, and our own."""

from __future__ import annotations

import ast
import json
from collections import Counter
from pathlib import Path

import pytest

from domain.screening import rouge_l_f, rouge_tokens

CODE_SEEDS = Path(__file__).resolve().parents[2] / "generators" / "seeds" / "code_seeds.jsonl"
FIELDS = {"instruction": str, "entry_point": str, "solution": str, "tests": list, "topic": str}
TOPICS = {"strings", "lists", "math", "dicts", "sorting", "recursion", "parsing", "sets", "numbers_text"}
ALLOWED_IMPORTS = {"math", "collections", "itertools", "re", "string"}
N_TASKS = 40
MIN_PER_TOPIC = 3
MAX_ROUGE_L = 0.7


def _load() -> list[dict]:
    lines = CODE_SEEDS.read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines]


TASKS = _load()
IDS = [task.get("entry_point", str(i)) for i, task in enumerate(TASKS)]


def test_count_and_fields() -> None:
    assert len(TASKS) == N_TASKS
    for task in TASKS:
        assert set(task) == set(FIELDS), task
        for field, kind in FIELDS.items():
            assert isinstance(task[field], kind), (task["entry_point"], field)
        assert task["entry_point"].isidentifier()
        assert task["topic"] in TOPICS
        assert 3 <= len(task["tests"]) <= 5, task["entry_point"]
        assert all(isinstance(test, str) and "\n" not in test for test in task["tests"])


def test_entry_points_and_instructions_unique() -> None:
    entry_points = [task["entry_point"] for task in TASKS]
    instructions = [task["instruction"] for task in TASKS]
    assert len(set(entry_points)) == len(entry_points)
    assert len(set(instructions)) == len(instructions)
    for task in TASKS:
        assert f"{task['entry_point']}(" in task["instruction"], task["entry_point"]


def test_topic_spread() -> None:
    counts = Counter(task["topic"] for task in TASKS)
    assert set(counts) == TOPICS
    assert min(counts.values()) >= MIN_PER_TOPIC, counts


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_solution_shape(task: dict) -> None:
    tree = ast.parse(task["solution"])
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert functions == [task["entry_point"]]
    for node in tree.body:
        if isinstance(node, ast.Import):
            assert {alias.name for alias in node.names} <= ALLOWED_IMPORTS
        elif isinstance(node, ast.ImportFrom):
            assert node.module in ALLOWED_IMPORTS
        else:
            assert isinstance(node, ast.FunctionDef), ast.dump(node)
    compile(tree, task["entry_point"], "exec")


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_tests_are_single_equality_asserts(task: dict) -> None:
    for test in task["tests"]:
        tree = ast.parse(test)
        assert len(tree.body) == 1, test
        statement = tree.body[0]
        assert isinstance(statement, ast.Assert) and statement.msg is None, test
        compare = statement.test
        assert isinstance(compare, ast.Compare), test
        assert len(compare.ops) == 1 and isinstance(compare.ops[0], ast.Eq), test
        call = compare.left
        assert isinstance(call, ast.Call), test
        assert isinstance(call.func, ast.Name) and call.func.id == task["entry_point"], test
        ast.literal_eval(compare.comparators[0])


@pytest.mark.parametrize("task", TASKS, ids=IDS)
def test_solution_passes_its_tests(task: dict) -> None:
    # our own trusted seeds: executed in-process, each test in a fresh namespace
    code = compile(task["solution"], task["entry_point"], "exec")
    for test in task["tests"]:
        namespace: dict = {}
        exec(code, namespace)
        exec(test, namespace)


def test_instructions_not_near_duplicates_of_each_other() -> None:
    tokens = [rouge_tokens(task["instruction"]) for task in TASKS]
    for i, first in enumerate(tokens):
        for j in range(i + 1, len(tokens)):
            score = rouge_l_f(first, tokens[j])
            assert score <= MAX_ROUGE_L, (IDS[i], IDS[j], score)


def test_instructions_not_near_duplicates_of_self_instruct(seed_file: Path) -> None:
    lines = seed_file.read_text(encoding="utf-8").splitlines()
    references = [rouge_tokens(json.loads(line)["instruction"]) for line in lines if line.strip()]
    assert references
    for task in TASKS:
        tokens = rouge_tokens(task["instruction"])
        for reference in references:
            score = rouge_l_f(tokens, reference)
            assert score <= MAX_ROUGE_L, (task["entry_point"], score)
