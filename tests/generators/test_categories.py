from __future__ import annotations

import random

from generators.categories import CategoryModel, content_words, mix_report, normalised_targets, pick_focus

LABELLED = [
    ("Solve the equation for x and show each step.", "math"),
    ("Compute the area of a circle with the given radius.", "math"),
    ("Write a short poem about the sea at night.", "writing"),
    ("Write a story about a lost dog finding its way home.", "writing"),
]


def test_content_words_drop_stopwords_and_punctuation() -> None:
    assert content_words("Given the list, find THE largest number!") == ["list", "find", "largest", "number"]


def test_a_task_takes_the_category_of_the_closest_centroid() -> None:
    model = CategoryModel(LABELLED)
    assert model.infer("Compute the area of a square and solve for its side.") == "math"
    assert model.infer("Write a poem about a dog.") == "writing"
    assert model.infer("Translate this sentence into French.") == "uncategorized"  # no shared word


def test_uncategorized_tasks_teach_nothing() -> None:
    model = CategoryModel([*LABELLED, ("Translate this sentence into French.", "uncategorized")])
    assert set(model.centroids) == {"math", "writing"}


def test_targets_are_normalised_and_lower_cased() -> None:
    assert normalised_targets({"Math": 3, "writing": 1}) == {"math": 0.75, "writing": 0.25}
    assert normalised_targets({}) == {}


def test_focus_goes_only_to_categories_that_lag_their_target() -> None:
    rng = random.Random(0)
    targets = {"math": 0.5, "writing": 0.5}
    assert {pick_focus(targets, {"math": 10, "writing": 0}, rng) for _ in range(50)} == {"writing"}
    assert pick_focus(targets, {"math": 10, "writing": 10}, rng) in ("math", "writing")  # both lag by 1/21
    picks = [pick_focus({"math": 0.9, "writing": 0.1}, {}, rng) for _ in range(2000)]
    assert 0.85 < picks.count("math") / len(picks) < 0.95


def test_the_mix_report_measures_the_distance_to_the_target() -> None:
    report = mix_report({"math": 0.5, "writing": 0.5}, {"math": 3, "writing": 1})
    assert report == {"targets": {"math": 0.5, "writing": 0.5}, "achieved": {"math": 0.75, "writing": 0.25},
                      "accepted": 4, "distance": 0.25}  # fmt: skip
    assert mix_report({"math": 1.0}, {"code": 2})["distance"] == 1.0
