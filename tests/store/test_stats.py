from __future__ import annotations

from domain.records import Instance, NewTask
from store import Store
from store.datasets import create_dataset
from store.ingest.formats import SeedLimits, parse_seed_upload
from store.stats import SourceCounts, dataset_stats
from store.tasks import add_tasks
from tests.expectations import instance_rows, length_summary, load_seeds
from tests.store.conftest import task


def test_empty_dataset(store: Store, dataset_id: str) -> None:
    stats = dataset_stats(store, dataset_id)
    assert (stats.tasks, stats.instances, stats.duplicates_skipped, stats.rejections) == (0, 0, 0, 0)
    assert stats.lengths == {"instruction": None, "input": None, "output": None}
    assert (stats.sources, stats.unanswered) == ({}, 0)
    assert stats.classification.share == 0.0


def test_counts_shares_and_rejections(store: Store, dataset_id: str) -> None:
    add_tasks(
        store,
        dataset_id,
        [
            task("Is it spam?", "no", input="hello", is_classification=True, category="classification"),
            task("Write a haiku.", "words", category="writing"),
            task("write a HAIKU", category="writing"),
            task("Write a limerick.", "more words", category="writing"),
        ],
        source="seed",
        stage="test",
    )
    stats = dataset_stats(store, dataset_id)
    assert (stats.tasks, stats.instances, stats.instances_with_input) == (3, 3, 1)
    assert stats.by_source == {"seed": 3}
    assert (stats.sources, stats.unanswered) == ({"seed": SourceCounts(tasks=3, instances=3, unanswered=0)}, 0)
    assert stats.by_category == {"writing": 2, "classification": 1}
    assert (stats.classification.count, stats.classification.share) == (1, 0.3333)
    assert (stats.duplicates_skipped, stats.rejections, stats.rejections_by_reason) == (1, 1, {"exact_duplicate": 1})
    assert stats.lengths["output"].max == len("more words")


def test_the_175_seed_tasks(store: Store, dataset_id: str, seed_file, seed_bytes: bytes) -> None:
    add_tasks(
        store, dataset_id, parse_seed_upload(seed_bytes, "jsonl", SeedLimits(), "up"), source="seed", stage="test"
    )
    seeds, rows = load_seeds(seed_file), instance_rows(load_seeds(seed_file))
    stats = dataset_stats(store, dataset_id)
    assert (stats.tasks, stats.instances, stats.classification.count) == (175, 175, 26)
    assert stats.instances_with_input == sum(1 for r in rows if r[1])
    assert stats.classification.share == round(26 / 175, 4)
    lengths = {
        k: v.__struct_fields__ and {f: getattr(v, f) for f in v.__struct_fields__} for k, v in stats.lengths.items()
    }
    assert lengths == {
        "instruction": length_summary([len(s["instruction"].strip()) for s in seeds]),
        "input": length_summary([len(r[1]) for r in rows]),
        "output": length_summary([len(r[2]) for r in rows]),
    }


def test_summarize_lengths_matches_nearest_rank_on_literals() -> None:
    from store.stats import LengthSummary, summarize_lengths

    assert summarize_lengths([]) is None
    assert summarize_lengths([(7, 1)]) == LengthSummary(min=7, p50=7, p90=7, p99=7, max=7, mean=7.0)
    # 1,2,...,10 once each: ranks ceil(5)=5, ceil(9)=9, ceil(9.9)=10
    assert summarize_lengths([(n, 1) for n in range(10, 0, -1)]) == LengthSummary(
        min=1, p50=5, p90=9, p99=10, max=10, mean=5.5
    )
    # 0 x 98, 100 x 2: the 99th percentile is the 99th value of 100
    assert summarize_lengths([(0, 98), (100, 2)]) == LengthSummary(min=0, p50=0, p90=0, p99=100, max=100, mean=2.0)
    values = [3, 3, 5, 8, 8, 8, 13, 21, 34, 55, 89]
    histogram = [(v, values.count(v)) for v in set(values)]
    assert summarize_lengths(histogram) == LengthSummary(**length_summary(values))


def test_counts_per_source_with_unanswered_imports(store: Store, dataset_id: str) -> None:
    two_answers = NewTask(instruction="Give two synonyms of happy.", instances=(Instance(input="a", output="glad"),
                          Instance(input="b", output="joyful")))  # fmt: skip
    add_tasks(store, dataset_id, [two_answers, task("Name a prime.", "7")], source="seed", stage="test")
    alpaca = [task("Summarize the text.", "Short."), task("Translate to French.", "Bonjour."),
              NewTask(instruction="Write a haiku about rain.", instances=())]  # fmt: skip
    add_tasks(store, dataset_id, alpaca, source="alpaca", stage="test")
    add_tasks(store, dataset_id, [NewTask(instruction="Who wrote Hamlet?", instances=())], source="dolly-15k",
              stage="test")  # fmt: skip
    stats = dataset_stats(store, dataset_id)
    assert (stats.tasks, stats.instances, stats.unanswered) == (6, 5, 2)
    assert stats.by_source == {"alpaca": 3, "seed": 2, "dolly-15k": 1}
    assert stats.sources == {
        "alpaca": SourceCounts(tasks=3, instances=2, unanswered=1),
        "seed": SourceCounts(tasks=2, instances=3, unanswered=0),
        "dolly-15k": SourceCounts(tasks=1, instances=0, unanswered=1),
    }
    assert list(stats.sources) == list(stats.by_source)


def test_per_source_counts_stay_inside_their_dataset(store: Store, dataset_id: str) -> None:
    other = create_dataset(store, name="other").id
    add_tasks(store, other, [NewTask(instruction="Who wrote Hamlet?", instances=())], source="alpaca", stage="test")
    add_tasks(store, dataset_id, [task("Who wrote Hamlet?", "Shakespeare.")], source="alpaca", stage="test")
    assert dataset_stats(store, dataset_id).sources == {"alpaca": SourceCounts(tasks=1, instances=1, unanswered=0)}
    assert dataset_stats(store, other).sources == {"alpaca": SourceCounts(tasks=1, instances=0, unanswered=1)}
    assert dataset_stats(store, dataset_id).unanswered == 0
