"""Categories of generated tasks, with a confidence, and steering generation toward target shares.

A generated task takes the category of the nearest labelled-category centroid (Rocchio): TF-IDF cosine over
content words by default, or sentence embeddings when an embedder is injected. Cheap, deterministic and
independent of the generating model, so a job's reported mix is not the model's own opinion of what it wrote.

Confidence. The cosines to the K centroids go through a softmax with a temperature fitted on the labelled
tasks themselves: each is scored against centroids built without it (leave-one-out) and the temperature
minimising the log-loss of the true categories is kept (a grid search). The confidence of a label is thus a
calibrated probability that it is right, on tasks like the labelled ones. Below `min_label_confidence` the
task is `uncategorized` rather than guessed; the guess and its confidence stay in the label.

Measured leave-one-out on the 120 packaged seeds (10 categories, chance 10%; bench/label_accuracy_bench.py):
TF-IDF centroids are right for 52% (fitted temperature 0.035); at confidence >= 0.5 they label 45% of the
seeds, 80% of those rightly. all-MiniLM-L6-v2 centroids are right for 70% (temperature 0.047); at >= 0.5 they
label 79%, 77% rightly. On `seeds/labelled_tasks.jsonl` (133 generated-looking tasks labelled by hand, 14 of
them not tasks at all; same bench): TF-IDF right for 64% taking every guess, and at >= 0.5 it labels 71%,
82% rightly; embeddings 72% every guess, and at >= 0.5 they label 76%, 82% rightly.

No `not_a_task` category: a statement is a quality verdict, for the filters to reject, not a kind of task to
balance; and nothing in a dataset's seeds could teach its centroid. Low confidence catches about half of them.

Steering picks, for each prompt, a focus category with a probability proportional to how far its share lags
its target; the prompt then shows mostly seed tasks of that category.
"""

from __future__ import annotations

import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from importlib.resources import files
from typing import Any, Protocol

import msgspec

from domain.job_spec import CategoryConfig
from domain.quality import LabelAccuracy
from domain.records import DEFAULT_CATEGORY

_WORD = re.compile(r"[a-z][a-z0-9]+")
_STOPWORDS = frozenset(
    "the a an and or of to in on for with from by as at is are be this that these those it its your you "
    "given following each which what how into about than then them they their can will should would".split()
)
# Softmax temperatures tried when calibrating: 0.005 to ~2.3 in steps of 15%, wide enough for both cosines.
TEMPERATURES = tuple(0.005 * 1.15**n for n in range(45))
DEFAULT_TEMPERATURE = 0.035  # the TF-IDF fit on the packaged seeds; used when there is nothing to fit on
Similarities = dict[str, float]


DEFAULT_CONFIG = CategoryConfig()


class CategoryLabel(msgspec.Struct, frozen=True, kw_only=True):
    category: str  # the guess, or `uncategorized` when its confidence is below the threshold
    confidence: float  # calibrated probability that `guess` is right; 0.0 when nothing was shared
    guess: str


UNLABELLED = CategoryLabel(category=DEFAULT_CATEGORY, confidence=0.0, guess=DEFAULT_CATEGORY)


class TextEmbedder(Protocol):
    """Unit-norm float32 rows, one per text (as `store.semantic.Embedder` gives them)."""

    def embed(self, texts: Sequence[str]) -> Any: ...


def content_words(text: str) -> list[str]:
    return [w for w in _WORD.findall(text.lower()) if w not in _STOPWORDS]


def _unit(vector: Mapping[str, float]) -> dict[str, float]:
    norm = math.sqrt(sum(v * v for v in vector.values())) or 1.0
    return {w: v / norm for w, v in vector.items()}


def _dot(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    return sum(v * large.get(w, 0.0) for w, v in small.items())


def _without(dot: float, self_dot: float, sum_norm2: float) -> float:
    """Cosine of a unit vector v to (S - v), from v.S, v.v and |S|^2: its centroid had it been left out."""
    left = sum_norm2 - 2 * dot + self_dot
    return (dot - self_dot) / math.sqrt(left) if left > 1e-12 else 0.0


class TfidfCentroids:
    """Centroids of TF-IDF vectors over content words. Leave-one-out keeps the IDF of all tasks (a small leak)."""

    def __init__(self, labelled: Sequence[tuple[str, str]]) -> None:
        docs = [Counter(content_words(text)) for text, _ in labelled]
        frequency = Counter(word for words in docs for word in words)
        self.idf = {word: math.log((1 + len(docs)) / (1 + n)) + 1 for word, n in frequency.items()}
        self._vectors = [self._vector(words) for words in docs]
        self._labels = [category for _, category in labelled]
        sums: dict[str, Counter[str]] = defaultdict(Counter)
        for vector, category in zip(self._vectors, self._labels, strict=True):
            sums[category].update(vector)
        self._sums = dict(sorted(sums.items()))
        self.centroids = {category: _unit(total) for category, total in self._sums.items()}

    def _vector(self, words: Counter[str]) -> dict[str, float]:
        return _unit({w: n * self.idf.get(w, 0.0) for w, n in words.items()})

    def similarities(self, texts: Sequence[str]) -> list[Similarities]:
        queries = [self._vector(Counter(content_words(text))) for text in texts]
        return [{c: _dot(q, centroid) for c, centroid in self.centroids.items()} for q in queries]

    def held_out(self) -> list[Similarities]:
        norms2 = {c: _dot(total, total) for c, total in self._sums.items()}
        found = []
        for vector, own in zip(self._vectors, self._labels, strict=True):
            self_dot = _dot(vector, vector)
            dots = {c: _dot(vector, total) for c, total in self._sums.items()}
            found.append({c: _without(d, self_dot, norms2[c]) if c == own else d / math.sqrt(norms2[c] or 1.0)
                          for c, d in dots.items()})  # fmt: skip
        return found


class EmbeddingCentroids:
    """Centroids of sentence embeddings; numpy is imported here only (the embedder brings it)."""

    def __init__(self, labelled: Sequence[tuple[str, str]], embedder: TextEmbedder) -> None:
        import numpy as np

        self._embedder, self.categories = embedder, sorted({category for _, category in labelled})
        self._x = np.asarray(embedder.embed([text for text, _ in labelled]), dtype=np.float64)
        self._y = np.array([self.categories.index(category) for _, category in labelled], dtype=np.int64)
        self._sums = np.stack([self._x[self._y == k].sum(axis=0) for k in range(len(self.categories))])
        norms = np.linalg.norm(self._sums, axis=1, keepdims=True)
        self._centroids = self._sums / np.where(norms > 0, norms, 1.0)

    def similarities(self, texts: Sequence[str]) -> list[Similarities]:
        if not texts or not self.categories:
            return [{} for _ in texts]
        scores = self._embedder.embed(list(texts)) @ self._centroids.T
        return [dict(zip(self.categories, map(float, row), strict=True)) for row in scores]

    def held_out(self) -> list[Similarities]:
        dots = self._x @ self._sums.T
        norms2 = (self._sums * self._sums).sum(axis=1)
        self_dots = (self._x * self._x).sum(axis=1)
        found = []
        for n, row in enumerate(dots):
            own = int(self._y[n])
            found.append({c: _without(float(d), float(self_dots[n]), float(norms2[k])) if k == own
                          else float(d) / math.sqrt(float(norms2[k]) or 1.0)
                          for k, (c, d) in enumerate(zip(self.categories, row, strict=True))})  # fmt: skip
        return found


def softmax(similarities: Similarities, temperature: float) -> Similarities:
    if not similarities:
        return {}
    top = max(similarities.values())
    weights = {c: math.exp((s - top) / temperature) for c, s in similarities.items()}
    total = sum(weights.values())
    return {c: w / total for c, w in weights.items()}


def fit_temperature(held_out: Sequence[Similarities], truths: Sequence[str]) -> float:
    """The temperature (from `TEMPERATURES`) whose softmax gives the true categories the lowest log-loss."""
    scored = [(s, t) for s, t in zip(held_out, truths, strict=True) if len(s) > 1]
    if not scored:
        return DEFAULT_TEMPERATURE

    def log_loss(temperature: float) -> float:
        return -sum(math.log(max(softmax(s, temperature).get(t, 0.0), 1e-12)) for s, t in scored)

    return min(TEMPERATURES, key=log_loss)


def decide(similarities: Similarities, temperature: float, threshold: float) -> CategoryLabel:
    """The most similar category with its calibrated confidence; `uncategorized` below `threshold`."""
    if not similarities or max(similarities.values()) <= 0.0:
        return UNLABELLED  # no word in common with any labelled task: no evidence at all
    probabilities = softmax(similarities, temperature)
    guess = max(sorted(probabilities), key=lambda c: probabilities[c])  # ties: the first by name
    confidence = round(probabilities[guess], 4)
    return CategoryLabel(category=guess if confidence >= threshold else DEFAULT_CATEGORY, confidence=confidence,
                         guess=guess)  # fmt: skip


class CategoryModel:
    """Built once per job from the labelled tasks (seeds); `uncategorized` ones teach nothing."""

    def __init__(
        self,
        labelled: Sequence[tuple[str, str]],
        config: CategoryConfig = DEFAULT_CONFIG,
        embedder: TextEmbedder | None = None,
    ) -> None:
        taught = [(text, category) for text, category in labelled if category != DEFAULT_CATEGORY]
        self.config = config
        self.centroids: TfidfCentroids | EmbeddingCentroids = (
            EmbeddingCentroids(taught, embedder) if embedder is not None else TfidfCentroids(taught)
        )
        self.truths = [category for _, category in taught]  # of the labelled tasks, for leave-one-out
        self.temperature = fit_temperature(self.centroids.held_out(), self.truths)

    @property
    def categories(self) -> list[str]:
        found = self.centroids
        return list(found.centroids) if isinstance(found, TfidfCentroids) else list(found.categories)

    def infer(self, instruction: str) -> CategoryLabel:
        return self.infer_many([instruction])[0]

    def infer_many(self, instructions: Sequence[str]) -> list[CategoryLabel]:
        threshold = self.config.min_label_confidence
        return [decide(s, self.temperature, threshold) for s in self.centroids.similarities(instructions)]


def _scores(labels: Sequence[CategoryLabel], truths: Sequence[str], threshold: float) -> LabelAccuracy:
    pairs = list(zip(labels, truths, strict=True))
    covered = [label.category == truth for label, truth in pairs if label.category != DEFAULT_CATEGORY]

    def share(count: int, of: int) -> float:
        return round(count / of, 4) if of else 0.0

    return LabelAccuracy(
        total=len(pairs),
        accuracy=share(sum(label.category == truth for label, truth in pairs), len(pairs)),
        coverage=share(len(covered), len(pairs)),
        covered_accuracy=share(sum(covered), len(covered)),
        forced_accuracy=share(sum(label.guess == truth for label, truth in pairs), len(pairs)),
        min_label_confidence=threshold,
    )


def label_accuracy(model: CategoryModel, labelled: Sequence[tuple[str, str]]) -> LabelAccuracy:
    """The model's labels against people's (`uncategorized` is right for a task no category fits)."""
    labels = model.infer_many([text for text, _ in labelled])
    return _scores(labels, [category for _, category in labelled], model.config.min_label_confidence)


def leave_one_out_accuracy(model: CategoryModel) -> LabelAccuracy:
    """The same figures on the labelled tasks the model was built from, each scored as if left out.

    For any dataset's own seeds (the packaged held-out set only fits the default categories).
    """
    threshold = model.config.min_label_confidence
    labels = [decide(s, model.temperature, threshold) for s in model.centroids.held_out()]
    return _scores(labels, model.truths, threshold)


def labelled_tasks() -> list[tuple[str, str]]:
    """The packaged held-out set: generated tasks whose categories people assigned (`seeds/labelled_tasks.jsonl`)."""
    lines = files("generators").joinpath("seeds", "labelled_tasks.jsonl").read_text().splitlines()
    rows = [msgspec.json.decode(line) for line in lines if line.strip()]
    return [(row["instruction"], row["category"]) for row in rows]


def normalised_targets(targets: Mapping[str, float]) -> dict[str, float]:
    total = sum(targets.values())
    return {category.strip().lower(): share / total for category, share in targets.items()} if total > 0 else {}


def pick_focus(targets: Mapping[str, float], counts: Mapping[str, int], rng: random.Random) -> str | None:
    """A category to steer one prompt toward: likelier the more its share lags its target."""
    total = sum(counts.get(c, 0) for c in targets) + 1
    lags = {c: share - counts.get(c, 0) / total for c, share in sorted(targets.items())}
    positive = {c: lag for c, lag in lags.items() if lag > 0}
    if not positive:
        return None
    return rng.choices(list(positive), weights=list(positive.values()))[0]


def mix_report(targets: Mapping[str, float], counts: Mapping[str, int]) -> dict[str, object]:
    """Achieved shares against the targets, and the total variation distance between them (0 = on target)."""
    total = sum(counts.values())
    achieved = {c: round(counts.get(c, 0) / total, 4) if total else 0.0 for c in sorted(set(targets) | set(counts))}
    distance = 0.5 * sum(abs(targets.get(c, 0.0) - achieved.get(c, 0.0)) for c in achieved)
    return {"targets": dict(targets), "achieved": achieved, "accepted": total, "distance": round(distance, 4)}
