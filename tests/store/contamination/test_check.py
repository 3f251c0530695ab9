from __future__ import annotations

import json

import msgspec
import pytest

from domain.errors import ConflictError, InvalidInputError, NotFoundError
from store import Store
from store.contamination.benchmarks import delete_benchmark, list_benchmarks, register_benchmark
from store.contamination.check import ContaminationReport, TaskMatch, find_contamination
from store.contamination.ngrams import json_texts, tokenize, window_hashes
from store.migrations import applied_versions
from store.tasks import add_tasks
from tests.store.conftest import task

# A HumanEval-style benchmark, plus a record whose only long text is nested.
DOCSTRING = (
    "You are given a list of deposit and withdrawal operations on a bank account that starts with zero "
    "balance. Your task is to detect if at any point the balance of the account falls below zero, and at "
    "that point the function should return True. Otherwise it should return False."
)
SHORT_PROMPT = "Return the number of vowels in the given input string."  # 10 words, 53 characters normalised
NESTED = "The archive keeps every letter the lighthouse keeper wrote to his sister during the long winter storms."
RECORDS = [
    {
        "task_id": "HumanEval/0",
        "prompt": f'def below_zero(operations: list) -> bool:\n    """ {DOCSTRING}\n'
        '    >>> below_zero([1, -2])\n    True\n    """\n',
        "canonical_solution": "    balance = 0\n    for op in operations:\n        balance += op\n"
        "        if balance < 0:\n            return True\n    return False\n",
        "test": "def check(candidate):\n    assert candidate([]) == False\n",
        "entry_point": "below_zero",
    },
    {"task_id": "HumanEval/1", "prompt": SHORT_PROMPT, "canonical_solution": "    return 0\n", "test": "pass"},
    {"task_id": "Extra/2", "meta": {"notes": ["short note", {"deep": NESTED}]}, "score": 3},
]
BENCHMARK = "\n".join(json.dumps(record) for record in RECORDS).encode()
TWELVE_WORDS = "to detect if at any point the balance of the account falls"  # 58 characters
THIRTEEN_WORDS = "detect if at any point the balance of the account falls below zero"

TASKS = [
    # 1: a 13-word span of the docstring inside a longer output -> ngram
    task("Summarise the rule.", f"Sure. {THIRTEEN_WORDS}, roughly. Hope it helps."),
    # 2: the whole short prompt inside the instruction -> substring (it has fewer than 13 words)
    task(f"Please solve this: {SHORT_PROMPT} Use Python."),
    # 3: an output that sits wholly inside the docstring, 12 words -> substring, not ngram
    task("Quote the spec.", TWELVE_WORDS.capitalize() + "."),
    # 4: 12 shared words inside other words -> nothing at n=13
    task("Explain overdrafts.", f"Note: {TWELVE_WORDS} then stop the transfer."),
    # 5: the nested text (16 words) as an input -> substring and ngram
    task("Continue the story.", "It was cold.", input=NESTED),
    # 6: clean
    task("Write a haiku about autumn leaves.", "Red leaves drift slowly / over the quiet river / autumn says goodbye"),
    # 7: benchmark texts under 50 characters match nothing, whole or not
    task("Check the test: def check(candidate): assert candidate([]) == False", "below_zero"),
]


@pytest.fixture
def loaded(store: Store, dataset_id: str) -> Store:
    add_tasks(store, dataset_id, TASKS, source="generated", stage="test")
    register_benchmark(store, "humaneval", BENCHMARK)
    return store


def _row_counts(store: Store) -> list[int]:
    with store.read() as cur:
        return [
            cur.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
            for table in ("benchmarks", "benchmark_ngrams", "benchmark_texts", "benchmark_grams")
        ]


# ---- the pure core ------------------------------------------------------------------------------------


def test_json_texts_takes_every_string_nested_or_not() -> None:
    value = {"a": "x", "b": [1, "y", {"c": "z", "d": None}], "e": True, "key is not text": 2.5}
    assert json_texts(value) == ["x", "y", "z"]


def test_windows_stay_inside_their_text_and_hash_by_words() -> None:
    tokens = tokenize(["", "A b, C d!", "b c D"])
    assert (tokens.normalized, tokens.words) == (["", "a b c d", "b c d"], [0, 4, 3])
    hashes, owners = window_hashes(tokens, 3)
    assert owners.to_pylist() == [1, 1, 2]  # (a b c), (b c d), (b c d): none spans two texts
    assert hashes[1] == hashes[2] and hashes[0] != hashes[1]
    assert window_hashes(tokens, 5)[0].to_pylist() == []


# ---- registry (store.contamination.benchmarks) -----------------------------------------------------------------------


def test_register_and_list(store: Store) -> None:
    info = register_benchmark(store, "humaneval", BENCHMARK)
    assert (info.name, info.ngram, info.records, info.min_substring_chars) == ("humaneval", 13, 3, 50)
    assert info.texts == 12  # every string value, "entry_point" and "short note" included
    assert info.substring_texts == 4  # prompt 0, its solution, the short prompt, the nested text
    assert info.ngrams > 0
    assert list_benchmarks(store) == (info,)
    with store.read() as cur:
        assert (4, "benchmarks") in applied_versions(cur)


def test_bad_uploads_are_rejected_with_line_numbers_and_nothing_stored(store: Store) -> None:
    upload = b'{"prompt": "fine"}\nnot json\n\n[1, 2]\n{"prompt": "also fine"}\n"a string"\n'
    with pytest.raises(InvalidInputError) as caught:
        register_benchmark(store, "broken", upload)
    assert caught.value.code == "invalid_benchmark"
    assert caught.value.extra["error_count"] == 3
    assert [e["line"] for e in caught.value.extra["errors"]] == [2, 4, 6]
    assert "expected a JSON object, got list" in caught.value.extra["errors"][1]["reason"]
    with pytest.raises(InvalidInputError) as empty:
        register_benchmark(store, "empty", b"\n  \n")
    assert empty.value.code == "empty_benchmark"
    with pytest.raises(InvalidInputError):
        register_benchmark(store, "zero", BENCHMARK, ngram=0)
    with pytest.raises(InvalidInputError):
        register_benchmark(store, "  ", BENCHMARK)
    assert list_benchmarks(store) == ()
    assert _row_counts(store) == [0, 0, 0, 0]


def test_a_taken_name_conflicts(store: Store) -> None:
    register_benchmark(store, "humaneval", BENCHMARK)
    with pytest.raises(ConflictError) as caught:
        register_benchmark(store, "humaneval", BENCHMARK, ngram=8)
    assert caught.value.code == "benchmark_exists"
    assert [b.ngram for b in list_benchmarks(store)] == [13]


def test_delete_removes_every_row(loaded: Store, dataset_id: str) -> None:
    delete_benchmark(loaded, "humaneval")
    assert list_benchmarks(loaded) == ()
    assert _row_counts(loaded) == [0, 0, 0, 0]
    with pytest.raises(NotFoundError):
        delete_benchmark(loaded, "humaneval")
    with pytest.raises(NotFoundError) as caught:
        find_contamination(loaded, dataset_id, benchmarks=["humaneval"])
    assert caught.value.code == "benchmark_not_found"
    empty = find_contamination(loaded, dataset_id)  # nothing registered: nothing to check against
    assert (empty.tasks_checked, empty.benchmarks, empty.contaminated_task_ids) == (0, (), ())


# ---- the check ----------------------------------------------------------------------------------------


def test_planted_text_is_found_and_clean_tasks_are_not(loaded: Store, dataset_id: str) -> None:
    report = find_contamination(loaded, dataset_id)
    assert (report.tasks_checked, report.texts_checked) == (7, 15)  # 7 instructions, 7 outputs, 1 input
    (humaneval,) = report.benchmarks
    assert humaneval.task_ids == (1, 2, 3, 5)
    assert (humaneval.tasks, humaneval.ngram_tasks, humaneval.substring_tasks) == (4, 2, 3)
    assert report.contaminated_task_ids == (1, 2, 3, 5)
    assert report.matches == (
        TaskMatch(task_id=1, benchmark="humaneval", kind="ngram"),
        TaskMatch(task_id=2, benchmark="humaneval", kind="substring"),
        TaskMatch(task_id=3, benchmark="humaneval", kind="substring"),
        TaskMatch(task_id=5, benchmark="humaneval", kind="substring"),  # substring wins over ngram
    )
    assert msgspec.json.decode(msgspec.json.encode(report), type=ContaminationReport) == report
    assert find_contamination(loaded, dataset_id, chunk_tasks=2) == report  # chunk edges change nothing


def test_n_is_a_parameter_and_benchmark_order_decides_the_first_match(loaded: Store, dataset_id: str) -> None:
    register_benchmark(loaded, "humaneval-12", BENCHMARK, ngram=12)
    report = find_contamination(loaded, dataset_id, benchmarks=["humaneval-12", "humaneval"])
    twelve, thirteen = report.benchmarks
    assert (twelve.benchmark, twelve.ngram, thirteen.ngram) == ("humaneval-12", 12, 13)
    assert twelve.task_ids == (1, 2, 3, 4, 5)  # the 12-word overlap counts at n=12
    assert thirteen.task_ids == (1, 2, 3, 5)
    assert [(m.task_id, m.benchmark, m.kind) for m in report.matches[:2]] == [
        (1, "humaneval-12", "ngram"),
        (2, "humaneval-12", "substring"),
    ]


def test_a_subset_of_task_ids(loaded: Store, dataset_id: str) -> None:
    report = find_contamination(loaded, dataset_id, [1, 4, 6, 99])
    assert (report.tasks_checked, report.contaminated_task_ids) == (3, (1,))
    assert find_contamination(loaded, dataset_id, []).tasks_checked == 0


def test_another_dataset_is_not_checked(loaded: Store, dataset_id: str) -> None:
    from store.datasets import create_dataset

    other = create_dataset(loaded, name="other").id
    add_tasks(loaded, other, [task("Clean.", "Nothing to see here at all.")], source="seed", stage="test")
    report = find_contamination(loaded, other)
    assert (report.tasks_checked, report.contaminated_task_ids) == (1, ())
    with pytest.raises(NotFoundError):
        find_contamination(loaded, "ds_missing")
