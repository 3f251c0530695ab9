"""The stats' balance report: counted by the stats' own scan, its verb analysis cached until the tasks change."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec

from domain.annotations import Answer
from domain.imports import ImportSpec
from domain.records import Instance, NewTask
from store import Store
from store.annotations import tasks_to_annotate, write_answers
from store.balance import report
from store.balance.report import BalanceReport, balance_report
from store.dedup.screen import open_screen
from store.ingest.imports import ImportLimits, import_file
from store.stats import STATS_VERB_SAMPLE, dataset_report
from store.tasks import add_tasks
from tests.store.conftest import task


def mixed(store: Store, dataset_id: str) -> None:
    seeds = [task(f"Write a poem about topic {n}.", category="writing") for n in range(12)]
    seeds += [task(f"Classify review {n} as positive or negative " + "word " * n, category="classification",
                   is_classification=True) for n in range(0, 45, 5)]  # fmt: skip
    add_tasks(store, dataset_id, seeds, source="seed", stage="test")
    generated = [task(f"Explain how thing {n} works.", category="open_qa") for n in range(30)]
    add_tasks(store, dataset_id, generated, source="generated", stage="test")
    imported = [NewTask(instruction=f"Summarize article {n}.", instances=(), category="summarization")
                for n in range(25)]  # fmt: skip
    add_tasks(store, dataset_id, imported, source="alpaca", stage="test")


def fresh(store: Store, dataset_id: str) -> BalanceReport:
    """The balance report computed from scratch (its own scan, nothing cached)."""
    report._VERBS.clear()
    return balance_report(store, dataset_id, share_limit=0.5, verb_sample_limit=STATS_VERB_SAMPLE)


def stats_balance(store: Store, dataset_id: str) -> BalanceReport:
    balance = dataset_report(store, dataset_id, share_limit=0.5).balance
    assert balance is not None
    return balance


def test_the_stats_report_equals_the_report_on_its_own(store: Store, dataset_id: str) -> None:
    mixed(store, dataset_id)
    from_stats = stats_balance(store, dataset_id)
    assert from_stats == fresh(store, dataset_id)
    assert from_stats.dimensions["instruction_length"].counts == {
        "1-5 words": 55, "6-10 words": 13, "11-20 words": 2, "21-40 words": 4, "41+ words": 2,
    }  # fmt: skip
    assert from_stats.unanswered == {"seed": 0, "generated": 0, "alpaca": 25}
    assert [(w.dimension, w.key) for w in from_stats.warnings] == [
        ("instruction_length", "1-5 words"),
        ("source", "alpaca"),
        ("source", "seed"),
        ("source", "generated"),
        ("source", "alpaca"),
    ]  # the mix leaning on alpaca, then each source's domain
    plain = dataset_report(store, dataset_id, share_limit=0.5, with_balance=False)
    full = dataset_report(store, dataset_id, share_limit=0.5)
    assert plain.balance is None and msgspec.structs.replace(full, balance=None) == plain  # same counts both ways
    assert plain.by_source == {"alpaca": 25, "generated": 30, "seed": 21}
    assert plain.by_category == {"open_qa": 30, "summarization": 25, "writing": 12, "classification": 9}


def test_the_verb_cache_follows_inserts_imports_and_annotations(store: Store, dataset_id: str, tmp_path: Path) -> None:
    mixed(store, dataset_id)
    before = stats_balance(store, dataset_id)
    assert stats_balance(store, dataset_id) == before  # served from the cache
    add_tasks(store, dataset_id, [task(f"Translate sentence {n} into French.") for n in range(5)],
              source="generated", stage="test")  # fmt: skip
    inserted = stats_balance(store, dataset_id)
    assert inserted.dimensions["root_verb"].counts["translate"] == 5
    assert inserted == fresh(store, dataset_id)
    path = tmp_path / "rows.jsonl"
    cities = ("Lisbon's old tram lines", "the canals of Amsterdam", "Kyoto in autumn", "Nairobi's national park")
    path.write_text("".join(json.dumps({"instruction": f"Describe {city}.", "output": "ok"}) + "\n"
                            for city in cities))  # fmt: skip
    import_file(store, dataset_id, path, ImportSpec(source="dolly", license="MIT"), ImportLimits(),
                screen=lambda: open_screen(store, dataset_id))  # fmt: skip
    imported = stats_balance(store, dataset_id)
    assert imported.dimensions["root_verb"].counts["describe"] == 4
    assert imported == fresh(store, dataset_id)
    targets = tasks_to_annotate(store, dataset_id, targets="both", source="alpaca", after=0, limit=3)
    with store.write() as cur:
        write_answers(cur, dataset_id, "job_a", [
            Answer(task_id=t.task_id, instruction=t.instruction, reason=t.reason, instances=(Instance(output="ok"),),
                   model="m1", template="instance_input_first.v1") for t in targets
        ])  # fmt: skip
    annotated = stats_balance(store, dataset_id)
    assert annotated.unanswered["alpaca"] == 22
    assert annotated == fresh(store, dataset_id)
