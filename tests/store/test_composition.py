from __future__ import annotations

from collections import Counter

import pytest

from domain.verbs import root_verb_noun
from store import Store
from store.balance.report import VerbNouns
from store.composition import Histogram, Sunburst, bin_lengths, dataset_composition, nice_bin_width, sunburst_of
from store.datasets import create_dataset
from store.ingest.formats import SeedLimits, parse_seed_upload
from store.tasks import add_tasks
from tests.store.conftest import task


@pytest.mark.parametrize(
    ("longest", "max_bins", "width"),
    [(0, 30, 1), (29, 30, 1), (30, 30, 2), (59, 30, 2), (60, 30, 5), (149, 30, 5), (150, 30, 10), (999, 10, 100),
     (1000, 10, 200), (4999, 5, 1000), (5000, 5, 2000)],
)  # fmt: skip
def test_nice_bin_width_is_1_2_or_5_times_a_power_of_ten(longest: int, max_bins: int, width: int) -> None:
    assert nice_bin_width(longest, max_bins) == width


def test_bin_lengths_counts_each_length_in_its_bin_from_the_shortest_bin_on() -> None:
    # longest 47 with 10 bins: width 5; 12 -> [10, 15), 14 -> [10, 15), 30 -> [30, 35), 47 -> [45, 50)
    histogram = bin_lengths([(12, 3), (14, 1), (30, 2), (47, 1), (20, 0)], max_bins=10)
    assert histogram == Histogram(
        bin_width=5, starts=[10, 15, 20, 25, 30, 35, 40, 45], counts=[4, 0, 0, 0, 2, 0, 0, 1], total=7
    )


def test_bin_lengths_of_nothing_is_empty() -> None:
    assert bin_lengths([]) == Histogram(bin_width=1, starts=[], counts=[], total=0)
    assert bin_lengths([(5, 0)]) == Histogram(bin_width=1, starts=[], counts=[], total=0)


@pytest.mark.parametrize(
    ("instruction", "pair"),
    [
        ("Please write a short poem about the sea.", ("write", "poem")),
        ("Give me a list of three fruits.", ("give", "list")),
        ("Given a list of numbers, find the largest prime.", ("find", "prime")),
        ("Summarize the following article.", ("summarize", "article")),
        ("Brainstorm some creative names for a bakery.", ("brainstorm", "name")),
        ("What is the capital of France?", (None, None)),
    ],
)
def test_the_verb_object_heuristic_on_literal_instructions(instruction: str, pair: tuple) -> None:
    """The dashboard's sunburst reads `domain.verbs` (the heuristic the balance report uses)."""
    assert root_verb_noun(instruction) == pair


def test_sunburst_puts_verbs_inside_and_their_objects_outside() -> None:
    table = [
        VerbNouns(verb="write", count=5, share=0.625, nouns={"poem": 2, "story": 1}),
        VerbNouns(verb="give", count=3, share=0.375, nouns={"list": 3}),
    ]
    assert sunburst_of(table) == Sunburst(
        ids=["write", "write/poem", "write/story", "give", "give/list"],
        labels=["write", "poem", "story", "give", "list"],
        parents=["", "write", "write", "", "give"],
        values=[5, 2, 1, 3, 3],
    )


def test_composition_of_a_small_dataset(store: Store, dataset_id: str) -> None:
    add_tasks(
        store,
        dataset_id,
        [
            task("Write a poem about the sea.", "waves" * 5),  # 27 chars, output 25
            task("Write a poem about a cat.", "x" * 40, input="a black cat"),  # 25 chars, input 11
            task("Write a story about a dragon.", "y" * 3),  # 29 chars
            task("Give me a list of fruits.", "apple, pear"),  # 25 chars, output 11
            task("What is the capital of France?", "Paris"),  # no verb
        ],
        source="seed",
        stage="test",
    )
    composition = dataset_composition(store, dataset_id)
    assert (composition.tasks, composition.verb_sample, composition.verb_found) == (5, 5, 4)
    assert [(v.verb, v.count, v.nouns) for v in composition.verbs] == [
        ("write", 3, {"poem": 2, "story": 1}),
        ("give", 1, {"list": 1}),
    ]
    assert composition.sunburst.values == [3, 2, 1, 1, 1]
    # the longest is 30 characters: 31 one-character bins from 0 would pass 30, so bins are 2 wide
    assert composition.lengths["instruction"] == Histogram(
        bin_width=2, starts=[24, 26, 28, 30], counts=[2, 1, 1, 1], total=5
    )
    assert composition.lengths["input"] == Histogram(bin_width=1, starts=[11], counts=[1], total=1)
    output = composition.lengths["output"]
    assert (output.bin_width, output.total, output.starts[0], output.starts[-1]) == (2, 5, 2, 40)


def test_composition_of_the_175_seed_tasks_agrees_with_the_heuristic(store: Store, seed_bytes: bytes) -> None:
    dataset_id = create_dataset(store, name="seeds").id
    seeds = parse_seed_upload(seed_bytes, "jsonl", SeedLimits(), "up")
    add_tasks(store, dataset_id, seeds, source="seed", stage="test")
    composition = dataset_composition(store, dataset_id)
    pairs = [root_verb_noun(t.instruction) for t in seeds]
    verbs = Counter(verb for verb, _ in pairs if verb)
    assert (composition.tasks, composition.verb_sample) == (175, 175)
    assert composition.verb_found == sum(verbs.values())
    listed = {v.verb: v.count for v in composition.verbs}
    assert len(listed) == 20 and listed == {verb: verbs[verb] for verb in listed}
    assert min(listed.values()) >= max(count for verb, count in verbs.items() if verb not in listed)
    assert composition.lengths["instruction"].total == 175
    assert composition.lengths["output"].total == sum(len(t.instances) for t in seeds)
    longest = max(len(t.instruction) for t in seeds)
    histogram = composition.lengths["instruction"]
    assert histogram.starts[-1] <= longest < histogram.starts[-1] + histogram.bin_width
