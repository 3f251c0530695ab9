from __future__ import annotations

import math
import random
from collections import Counter
from pathlib import Path

import msgspec
import numpy as np
import pytest

from domain.job_spec import CategoryConfig
from domain.quality import LabelAccuracy
from generators.categories import (
    CategoryLabel,
    CategoryModel,
    TfidfCentroids,
    content_words,
    decide,
    fit_temperature,
    label_accuracy,
    labelled_tasks,
    leave_one_out_accuracy,
    mix_report,
    normalised_targets,
    pick_focus,
    softmax,
)

SEED_FILE = Path(__file__).resolve().parents[2] / "generators" / "seeds" / "default_seeds.jsonl"
LABELLED = [
    ("Solve the equation for x and show each step.", "math"),
    ("Compute the area of a circle with the given radius.", "math"),
    ("Write a short poem about the sea at night.", "writing"),
    ("Write a story about a lost dog finding its way home.", "writing"),
]


def test_content_words_drop_stopwords_and_punctuation() -> None:
    assert content_words("Given the list, find THE largest number!") == ["list", "find", "largest", "number"]


def test_a_task_takes_the_category_of_the_closest_centroid() -> None:
    model = CategoryModel(LABELLED, CategoryConfig(min_label_confidence=0.0))
    assert model.infer("Compute the area of a square and solve for its side.").category == "math"
    assert model.infer("Write a poem about a dog.").category == "writing"
    none = model.infer("Translate this sentence into French.")  # no word shared with a labelled task
    assert none == CategoryLabel(category="uncategorized", confidence=0.0, guess="uncategorized")


def test_uncategorized_tasks_teach_nothing() -> None:
    model = CategoryModel([*LABELLED, ("Translate this sentence into French.", "uncategorized")])
    assert model.categories == ["math", "writing"]


def test_softmax_and_the_decision_threshold() -> None:
    probabilities = softmax({"math": 0.3, "writing": 0.1}, 0.1)
    assert probabilities["math"] == pytest.approx(1 / (1 + math.exp(-2)))  # 0.8808
    sure = decide({"math": 0.3, "writing": 0.1}, 0.1, 0.5)
    assert sure == CategoryLabel(category="math", confidence=0.8808, guess="math")
    unsure = decide({"math": 0.3, "writing": 0.25}, 0.1, 0.7)  # 0.6225: likelier right, not likely enough
    assert unsure == CategoryLabel(category="uncategorized", confidence=0.6225, guess="math")
    assert decide({"math": 0.2, "writing": 0.2}, 0.1, 0.0).guess == "math"  # a tie goes to the first name
    assert decide({"math": 0.0, "writing": 0.0}, 0.1, 0.0).category == "uncategorized"  # nothing shared


def test_the_temperature_is_the_one_that_best_predicts_held_out_truths() -> None:
    held_out = [{"a": 0.5, "b": 0.3}, {"a": 0.2, "b": 0.4}, {"a": 0.45, "b": 0.35}, {"a": 0.3, "b": 0.32}]
    fitted = fit_temperature(held_out, ["a", "b", "a", "a"])  # three of four right: the margins, not certainty
    loss = lambda t: -sum(math.log(softmax(s, t)[y]) for s, y in zip(held_out, "abaa", strict=True))  # noqa: E731
    assert all(loss(fitted) <= loss(t) for t in (0.01, 0.05, 0.5, 2.0)) and 0.01 < fitted < 0.5
    assert fit_temperature([{"a": 0.9}], ["a"]) == 0.035  # one category: nothing to fit, the default


def test_leave_one_out_similarity_equals_the_centroid_of_the_others() -> None:
    texts = [*LABELLED, ("Compute the mean of the numbers and the area.", "math")]
    centroids = TfidfCentroids(texts)
    vectors = [centroids._vector(Counter(content_words(text))) for text, _ in texts]
    for n, (_, own) in enumerate(texts):
        expected = {}
        for category in ("math", "writing"):
            total: Counter[str] = Counter()
            for m, (_, other) in enumerate(texts):
                if other == category and m != n:
                    total.update(vectors[m])
            norm = math.sqrt(sum(v * v for v in total.values()))
            expected[category] = sum(w * total[word] for word, w in vectors[n].items()) / norm
        assert centroids.held_out()[n] == pytest.approx(expected, abs=1e-9), own


class KeywordEmbedder:
    """Two-dimensional 'embeddings': how mathematical and how literary a text sounds."""

    def embed(self, texts):
        rows = [[sum(w in t.lower() for w in ("solve", "compute", "area", "equation")) + 0.1,
                 sum(w in t.lower() for w in ("poem", "story", "write")) + 0.1] for t in texts]  # fmt: skip
        matrix = np.array(rows, dtype=np.float32)
        return matrix / np.linalg.norm(matrix, axis=1, keepdims=True)


def test_an_injected_embedder_replaces_tf_idf() -> None:
    model = CategoryModel(LABELLED, CategoryConfig(min_label_confidence=0.0), embedder=KeywordEmbedder())
    labels = model.infer_many(["Solve for the area.", "A poem, please.", "Translate this."])
    assert [label.category for label in labels] == ["math", "writing", "math"]  # equal scores: the first name
    assert labels[0].confidence > 0.5 and labels[2].confidence == 0.5


def test_label_accuracy_counts_abstentions_apart() -> None:
    model = CategoryModel(LABELLED, CategoryConfig(min_label_confidence=0.0))
    held_out = [("Solve the equation for y.", "math"), ("Write a poem about snow.", "writing"),
                ("Compute the story of a circle.", "writing"), ("Translate it.", "uncategorized")]  # fmt: skip
    forced = label_accuracy(model, held_out)  # the third guess is wrong; the last shares no word: rightly none
    assert (forced.total, forced.forced_accuracy) == (4, 0.75)
    assert (forced.accuracy, forced.coverage, forced.covered_accuracy) == (0.75, 0.75, 0.6667)
    unsure = CategoryModel(LABELLED, CategoryConfig(min_label_confidence=0.6))
    unsure.temperature = 100.0  # every confidence near 1/2: below the threshold, nothing is labelled
    strict = label_accuracy(unsure, held_out)
    assert (strict.accuracy, strict.coverage, strict.covered_accuracy, strict.forced_accuracy) == (0.25, 0.0, 0.0,
                                                                                                   0.75)  # fmt: skip


def test_the_threshold_is_bounded_config() -> None:
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"min_label_confidence": 1.2}, CategoryConfig)
    with pytest.raises(msgspec.ValidationError):
        msgspec.convert({"threshold": 0.5}, CategoryConfig)


def test_the_packaged_held_out_set_uses_the_seed_categories() -> None:
    tasks = labelled_tasks()
    categories = {"writing", "rewriting", "summarization", "extraction", "classification", "reasoning", "math",
                  "code", "brainstorming", "open_qa", "uncategorized"}  # fmt: skip
    assert len(tasks) >= 100 and {category for _, category in tasks} <= categories


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


def test_the_default_seeds_label_the_held_out_set_as_measured() -> None:
    """The figures the module docstring and the report quote, on the packaged files (TF-IDF: deterministic)."""
    seeds = [msgspec.json.decode(line) for line in SEED_FILE.read_bytes().splitlines() if line.strip()]
    model = CategoryModel([(row["instruction"], row["category"]) for row in seeds])
    assert round(model.temperature, 4) == 0.0354
    assert label_accuracy(model, labelled_tasks()) == LabelAccuracy(
        total=133, accuracy=0.6466, coverage=0.7143, covered_accuracy=0.8211, forced_accuracy=0.6391,
        min_label_confidence=0.5,
    )  # fmt: skip


def test_leave_one_out_accuracy_on_the_default_seeds() -> None:
    seeds = [msgspec.json.decode(line) for line in SEED_FILE.read_bytes().splitlines() if line.strip()]
    model = CategoryModel([(row["instruction"], row["category"]) for row in seeds])
    assert leave_one_out_accuracy(model) == LabelAccuracy(
        total=120, accuracy=0.3583, coverage=0.45, covered_accuracy=0.7963, forced_accuracy=0.5167,
        min_label_confidence=0.5,
    )  # fmt: skip
