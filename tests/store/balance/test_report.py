from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import msgspec
import pytest

from domain.errors import NotFoundError
from domain.records import Instance, NewTask
from domain.verbs import root_verb_noun, singularize
from store import Store
from store.balance.report import (
    LENGTH_BANDS,
    SOURCE_KEYS,
    BalanceReport,
    Distribution,
    balance_report,
    distribution,
    normalized_entropy,
    source_warnings,
)
from store.ingest.formats import SeedLimits, parse_seed_upload
from store.records import RecordFilter
from store.tasks import add_tasks, page_tasks
from tests.expectations import load_seeds
from tests.store.conftest import task

# ---- the pure core on literals ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ([], 0.0),
        ([7], 0.0),  # one class: 0 by definition (log 1 = 0)
        ([0, 0], 0.0),
        ([5, 0], 0.0),  # one of two keys holds everything
        ([3, 3], 1.0),
        ([1, 1, 1, 1], 1.0),
        ([2, 1, 1], round(1.5 * math.log(2) / math.log(3), 4)),
        ([9, 1], round(-(0.9 * math.log(0.9) + 0.1 * math.log(0.1)) / math.log(2), 4)),
    ],
)
def test_normalized_entropy(counts: list[int], expected: float) -> None:
    assert normalized_entropy(counts) == expected


def test_distribution_orders_by_count_or_by_the_given_keys() -> None:
    assert distribution({"b": 1, "a": 3, "c": 1}) == Distribution(
        total=5,
        counts={"a": 3, "b": 1, "c": 1},
        shares={"a": 0.6, "b": 0.2, "c": 0.2},
        normalized_entropy=normalized_entropy([3, 1, 1]),
        top="a",
        top_share=0.6,
    )
    closed = distribution({"y": 2, "x": 2}, ("x", "y", "z"))
    assert (closed.counts, closed.top, closed.top_share) == ({"x": 2, "y": 2, "z": 0}, "x", 0.5)
    assert distribution({}) == Distribution(
        total=0, counts={}, shares={}, normalized_entropy=0.0, top=None, top_share=0.0
    )


@pytest.mark.parametrize(
    ("instruction", "expected"),
    [
        ("Write a poem about the sea.", ("write", "poem")),
        ("Given a list of numbers, find the largest prime in it.", ("find", "prime")),
        ("Given a list of numbers, find the largest.", ("find", None)),
        ("Can you tell me a story about dragons?", ("tell", "story")),
        ("Can you tell me why the sky is blue?", ("tell", None)),
        ("What is the capital of France?", (None, None)),
        ("Is there anything I can eat for breakfast?", (None, None)),
        ("Writes a short summary of the article.", ("write", "summary")),
        ("Please give me three examples of irony.", ("give", "example")),
        ("Try coming up with a creative way to stay motivated.", ("come", "way")),
        ("Explain human's behavior.", ("explain", "behavior")),
        ("Question: in which year did Yao Ming retire?\nAnswer:", (None, None)),
        ("", (None, None)),
        # From the self-instruct seed tasks:
        ("Brainstorm a list of possible New Year's resolutions.", ("brainstorm", "list")),
        ("Make a grocery list for a healthy meal.", ("make", "list")),
        ("Dependency parsing for the sentence. Output the dependencies in lines.", ("output", "dependency")),
        ("Given a set of numbers, find all possible subsets that sum to a given number.", ("find", "subset")),
        ("Find the four smallest perfect numbers.", ("find", "number")),
        ("Solving the equation and find the value of X. Show your steps.", ("solve", "equation")),
        ("Sort the given list ascendingly.", ("sort", "list")),
        ("Turn down a job offer by sending an email to a recruiter explaining the reason.", ("turn", "offer")),
        (
            "In this task, you are given a sentence and a word or phrase from the sentence, you need to suggest "
            "a better word or phrase to replace it without changing the original meaning.",
            ("suggest", "word"),
        ),
        (
            "You are given a list of features of a product, and you need to create its description.",
            ("create", "description"),
        ),
        (
            "I am planning a 7-day trip to Seattle. Can you make a detailed plan for me?",
            ("make", "plan"),
        ),
        ("Given the facts, compose them into a coherent and fascinating story.", ("compose", None)),
        ("Tell me if the sentence is grammatical. If it is, output yes.", ("tell", None)),
        ("Replace the <mask> token in the text with proper words.", ("replace", "token")),
        ("Identify the bias or stereotype in the given prompt.", ("identify", "bias")),
        ("How can individuals and organizations reduce unconscious bias?", (None, None)),
    ],
)
def test_root_verb_noun(instruction: str, expected: tuple[str | None, str | None]) -> None:
    assert root_verb_noun(instruction) == expected


def test_singularize() -> None:
    assert [singularize(w) for w in ("subsets", "entities", "boxes", "news", "class", "bias", "is")] == [
        "subset",
        "entity",
        "box",
        "news",
        "class",
        "bias",
        "is",
    ]


def test_a_verb_is_found_for_most_seed_tasks(seed_file: Path) -> None:
    found = [root_verb_noun(seed["instruction"])[0] is not None for seed in load_seeds(seed_file)]
    assert len(found) == 175
    assert sum(found) == 161  # 92%: the misses are questions ("What is ...", "How do you ...") and statements


# ---- the report on a store ----------------------------------------------------------------------------


def _band(instruction: str) -> str:
    words = len(instruction.split())
    bounds = ((5, "1-5 words"), (10, "6-10 words"), (20, "11-20 words"), (40, "21-40 words"))
    return next((name for bound, name in bounds if words <= bound), "41+ words")


def _expected(counts: dict[str, int], keys: tuple[str, ...] | None = None) -> dict:
    """An independent computation of counts, shares and normalised entropy."""
    keys = keys or tuple(sorted(counts, key=lambda k: (-counts[k], k)))
    total = sum(counts.values())
    shares = [counts.get(k, 0) / total for k in keys]
    entropy = -sum(p * math.log(p) for p in shares if p) / math.log(len(keys)) if len(keys) > 1 else 0.0
    return {
        "counts": {k: counts.get(k, 0) for k in keys},
        "shares": {k: round(p, 4) for k, p in zip(keys, shares, strict=True)},
        "normalized_entropy": round(entropy, 4),
    }


def _observed(dist: Distribution) -> dict:
    return {"counts": dist.counts, "shares": dist.shares, "normalized_entropy": dist.normalized_entropy}


@pytest.fixture
def seeded(store: Store, dataset_id: str, seed_bytes: bytes) -> dict[int, dict]:
    """The 175 seed tasks, loaded through the upload parser; task id -> seed record."""
    add_tasks(
        store, dataset_id, parse_seed_upload(seed_bytes, "jsonl", SeedLimits(), "up"), source="seed", stage="test"
    )
    page = page_tasks(store, dataset_id, RecordFilter(), after=0, limit=1000)
    return {t.id: {"instruction": t.instruction, "is_classification": t.is_classification} for t in page.items}


def _check_against_python(report: BalanceReport, seeds: list[dict]) -> None:
    classification = sum(1 for s in seeds if s["is_classification"])
    assert report.tasks == len(seeds)
    assert _observed(report.dimensions["category"]) == _expected({"uncategorized": len(seeds)})
    assert _observed(report.dimensions["classification"]) == _expected(
        {"classification": classification, "other": len(seeds) - classification}, ("classification", "other")
    )
    assert _observed(report.dimensions["source"]) == _expected({"seed": len(seeds)}, ("seed", "generated"))
    bands = Counter(_band(s["instruction"].strip()) for s in seeds)
    assert _observed(report.dimensions["instruction_length"]) == _expected(dict(bands), LENGTH_BANDS)
    verbs = Counter(v for v, _ in map(root_verb_noun, (s["instruction"].strip() for s in seeds)) if v)
    assert _observed(report.dimensions["root_verb"]) == _expected(dict(verbs))
    assert (report.verb_sample, report.verb_found) == (len(seeds), sum(verbs.values()))


def test_the_175_seed_tasks_match_a_python_computation(
    store: Store, dataset_id: str, seeded: dict[int, dict], seed_file: Path
) -> None:
    report = balance_report(store, dataset_id)
    _check_against_python(report, load_seeds(seed_file))
    assert report.dimensions["classification"].counts == {"classification": 26, "other": 149}
    write = report.verb_noun[0]
    assert (write.verb, write.count, len(report.verb_noun)) == ("write", 25, 20)
    assert all(len(row.nouns) <= 4 for row in report.verb_noun)
    # Only the single category passes 50%: seeds are exempt from source warnings, "other" from
    # classification warnings, and no length band or verb holds half.
    assert [(w.dimension, w.key, w.share) for w in report.warnings] == [("category", "uncategorized", 1.0)]
    assert msgspec.json.decode(msgspec.json.encode(report), type=BalanceReport) == report


def test_a_subset_of_task_ids(store: Store, dataset_id: str, seeded: dict[int, dict]) -> None:
    chosen = sorted(seeded)[::3]
    report = balance_report(store, dataset_id, task_ids=[*chosen, 10_000_000])  # unknown ids are ignored
    _check_against_python(report, [seeded[i] for i in chosen])
    assert balance_report(store, dataset_id, task_ids=[]).tasks == 0


def test_the_verb_sample_is_bounded_and_reproducible(store: Store, dataset_id: str, seeded: dict[int, dict]) -> None:
    first = balance_report(store, dataset_id, verb_sample_limit=40)
    assert (first.tasks, first.verb_sample) == (175, 40)
    assert balance_report(store, dataset_id, verb_sample_limit=40) == first
    sample = sorted(seeded, key=lambda i: ((i * 2654435761) % 2**32, i))[:40]
    verbs = Counter(v for v in (root_verb_noun(seeded[i]["instruction"])[0] for i in sample) if v)
    assert first.dimensions["root_verb"].counts == dict(sorted(verbs.items(), key=lambda kv: (-kv[1], kv[0])))


def test_warnings_follow_the_share_limit(store: Store, dataset_id: str) -> None:
    add_tasks(
        store,
        dataset_id,
        [
            task("Is this spam?", is_classification=True, category="spam"),
            task("Is this mail spam?", is_classification=True, category="spam"),
            task("Is this text spam?", is_classification=True, category="writing"),
            task("Write a limerick about a cat.", category="writing"),
        ],
        source="generated",
        stage="test",
    )
    report = balance_report(store, dataset_id)
    # Categories split 2/2: a share equal to the limit does not pass it. Classification 3 of 4 does;
    # the one instruction with a verb makes that verb 100% of those found.
    assert [(w.dimension, w.key, w.share, w.limit) for w in report.warnings] == [
        ("instruction_length", "1-5 words", 0.75, 0.5),
        ("root_verb", "write", 1.0, 0.5),
        ("classification", "classification", 0.75, 0.5),
    ]
    assert report.dimensions["source"].counts == {"seed": 0, "generated": 4}  # no source warning
    strict = balance_report(store, dataset_id, share_limit=0.4)
    assert {(w.dimension, w.key) for w in strict.warnings} == {
        ("category", "spam"),
        ("category", "writing"),
        ("instruction_length", "1-5 words"),
        ("root_verb", "write"),
        ("classification", "classification"),
    }
    assert "75.0%" in report.warnings[0].message


def test_an_empty_dataset_and_an_unknown_one(store: Store, dataset_id: str) -> None:
    report = balance_report(store, dataset_id)
    assert (report.tasks, report.verb_sample, report.verb_noun, report.warnings) == (0, 0, (), ())
    assert report.dimensions["instruction_length"].counts == dict.fromkeys(LENGTH_BANDS, 0)
    with pytest.raises(NotFoundError):
        balance_report(store, "ds_missing")


# ---- the source dimension: every source, its warnings, unanswered tasks ----------------------------------


def _tasks(prefix: str, categories: dict[str, int], *, answered: bool = True) -> list[NewTask]:
    """Distinct instructions, `count` per category; unanswered ones carry no instance (an instruction-only import)."""
    return [
        NewTask(
            instruction=f"{prefix} {category} question number {n}.",
            category=category,
            instances=(Instance(output="An answer."),) if answered else (),
        )
        for category, count in categories.items()
        for n in range(count)
    ]


def _source_warnings(report: BalanceReport) -> list[tuple[str, float, str | None]]:
    return [(w.key, w.share, w.category) for w in report.warnings if w.dimension == "source"]


def test_the_source_dimension_counts_every_source_seed_and_generated_always_first(
    store: Store, dataset_id: str
) -> None:
    add_tasks(store, dataset_id, _tasks("Import", {"uncategorized": 1}), source="dolly", stage="test")
    add_tasks(store, dataset_id, _tasks("Alpaca", {"uncategorized": 4}), source="alpaca", stage="test")
    add_tasks(store, dataset_id, _tasks("Unanswered", {"uncategorized": 2}, answered=False), source="alpaca",
              stage="test")  # fmt: skip
    only_imports = balance_report(store, dataset_id)
    assert _observed(only_imports.dimensions["source"]) == _expected(
        {"alpaca": 6, "dolly": 1}, ("seed", "generated", "alpaca", "dolly")
    )
    assert only_imports.dimensions["source"].top == "alpaca"
    assert only_imports.unanswered == {"seed": 0, "generated": 0, "alpaca": 2, "dolly": 0}

    add_tasks(store, dataset_id, _tasks("Seed", {"uncategorized": 3}), source="seed", stage="test")
    add_tasks(store, dataset_id, _tasks("Generated", {"uncategorized": 2}), source="generated", stage="test")
    report = balance_report(store, dataset_id)
    assert report.dimensions["source"].counts == {"seed": 3, "generated": 2, "alpaca": 6, "dolly": 1}
    assert report.tasks == 12
    assert report.unanswered == {"seed": 0, "generated": 0, "alpaca": 2, "dolly": 0}
    # a snapshot's subset: only the selected tasks count, unanswered ones included
    ids = [t.id for t in page_tasks(store, dataset_id, RecordFilter(source="alpaca"), after=0, limit=100).items]
    subset = balance_report(store, dataset_id, task_ids=ids[:5])  # the 4 answered alpaca tasks, 1 unanswered
    assert subset.dimensions["source"].counts == {"seed": 0, "generated": 0, "alpaca": 5}
    assert subset.unanswered == {"seed": 0, "generated": 0, "alpaca": 1}
    assert msgspec.json.decode(msgspec.json.encode(report), type=BalanceReport) == report


def test_a_mix_leaning_on_one_seed_or_import_source_is_a_warning(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, _tasks("Seed", {"uncategorized": 1}), source="seed", stage="test")
    add_tasks(store, dataset_id, _tasks("Alpaca", {"uncategorized": 9}), source="alpaca", stage="test")
    add_tasks(store, dataset_id, _tasks("Generated", {"uncategorized": 30}), source="generated", stage="test")
    report = balance_report(store, dataset_id)
    # generated tasks are 75% of the dataset: never a warning; alpaca is 90% of the 10 seed and imported ones
    assert _source_warnings(report) == [("alpaca", 0.9, None)]
    [warning] = [w for w in report.warnings if w.dimension == "source"]
    assert warning.message == (
        "source 'alpaca' holds 90.0% of the seed and imported tasks, over the 50% limit: the mix leans on one source"
    )
    assert _source_warnings(balance_report(store, dataset_id, share_limit=0.95)) == []


def test_no_mix_warning_for_one_source_or_an_even_mix(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, _tasks("Alpaca", {"uncategorized": 5}), source="alpaca", stage="test")
    add_tasks(store, dataset_id, _tasks("Generated", {"uncategorized": 30}), source="generated", stage="test")
    assert _source_warnings(balance_report(store, dataset_id)) == []  # one human source is not a mix
    add_tasks(store, dataset_id, _tasks("Dolly", {"uncategorized": 5}), source="dolly", stage="test")
    assert _source_warnings(balance_report(store, dataset_id)) == []  # 50/50: a share equal to the limit passes
    assert _source_warnings(balance_report(store, dataset_id, share_limit=0.4)) == [
        ("alpaca", 0.5, None),
        ("dolly", 0.5, None),
    ]


def test_a_domain_specific_source_is_named_with_its_category(store: Store, dataset_id: str) -> None:
    spread = dict.fromkeys(("brainstorming", "classification", "open_qa", "summarization", "writing"), 4)
    add_tasks(store, dataset_id, _tasks("Seed", spread), source="seed", stage="test")
    add_tasks(store, dataset_id, _tasks("Medical", {"medicine": 16, "open_qa": 4}), source="medqa", stage="test")
    report = balance_report(store, dataset_id)
    assert _source_warnings(report) == [("medqa", 0.8, "medicine")]  # seed 20 / medqa 20: no mix warning
    [warning] = [w for w in report.warnings if w.dimension == "source"]
    assert warning.message == (
        "source 'medqa' is 80.0% category 'medicine', over the 50% limit, in a dataset of 6 categories: "
        "a domain-specific source"
    )
    assert _source_warnings(balance_report(store, dataset_id, share_limit=0.8)) == []


def test_no_domain_warning_when_unlabelled_small_or_alone(store: Store, dataset_id: str) -> None:
    add_tasks(store, dataset_id, _tasks("Seed", {"open_qa": 10, "writing": 10}), source="seed", stage="test")
    assert _source_warnings(balance_report(store, dataset_id)) == []  # one source: the category warnings speak
    # an import with no categories is unlabelled, not specialised; 19 tasks are too few to call a domain
    add_tasks(store, dataset_id, _tasks("Alpaca", {"uncategorized": 20}), source="alpaca", stage="test")
    add_tasks(store, dataset_id, _tasks("Law", {"law": 19}), source="legal", stage="test")
    report = balance_report(store, dataset_id, share_limit=0.9)
    assert _source_warnings(report) == []
    add_tasks(store, dataset_id, _tasks("Contract", {"law": 1}, answered=False), source="legal", stage="test")
    assert _source_warnings(balance_report(store, dataset_id, share_limit=0.9)) == [("legal", 1.0, "law")]


def test_source_warnings_on_literals() -> None:
    sources = distribution({"seed": 10, "generated": 100, "alpaca": 30}, ("seed", "generated", "alpaca"))
    categories = distribution({"math": 60, "writing": 80})
    by_source = {"seed": {"math": 5, "writing": 5}, "generated": {"writing": 70, "math": 30}, "alpaca": {"math": 25,
                 "writing": 5}}  # fmt: skip
    assert [(w.key, w.share, w.category) for w in source_warnings(sources, by_source, categories, 0.5)] == [
        ("alpaca", 0.75, None),  # 30 of the 40 seed and imported tasks
        ("generated", 0.7, "writing"),
        ("alpaca", 0.8333, "math"),
    ]
    one_category = distribution({"math": 140})
    assert [w.category for w in source_warnings(sources, by_source, one_category, 0.5)] == [None]
    assert source_warnings(distribution({}, SOURCE_KEYS), {}, distribution({}), 0.5) == ()
