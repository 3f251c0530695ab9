from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest

from store.dedup.near_duplicates import NearDuplicateIndex
from store.dedup.semantic import DEFAULT_THRESHOLD, DIMENSION, Embedder, SemanticIndex, TieredIndex

# Rewordings whose ROUGE-L F stays at or below 0.7 (the lexical tier misses them all); cosines measured
# with the packaged model are in the comments.
PARAPHRASES = [
    ("Write a short poem about the ocean.", "Compose a brief poem about the sea."),  # 0.882
    ("Translate the following sentence into French.", "Translate this sentence to French."),  # 0.972
    ("Summarize the given article in three sentences.", "Give a three-sentence summary of the article."),  # 0.850
    ("List five tips for improving sleep quality.", "Give me five tips to sleep better."),  # 0.862
    (
        "Explain how photosynthesis works to a ten-year-old.",
        "Describe the process of photosynthesis so that a 10-year-old child can understand it.",
    ),  # 0.901
    ("Write a Python function that reverses a string.", "Implement a function in Python to reverse a given string."),
    ("What are the main causes of climate change?", "Explain the primary causes of global warming."),  # 0.811
    ("Suggest a name for a new coffee shop.", "Come up with a name for a new cafe."),  # 0.820
    (
        "Classify the sentiment of the review as positive or negative.",
        "Decide whether the sentiment of this review is positive or negative.",
    ),  # 0.866
    ("Give me a recipe for chocolate chip cookies.", "How do I bake chocolate chip cookies? Give me the recipe."),
]
UNRELATED = [
    ("Write a short poem about the ocean.", "Write a Python function that reverses a string."),  # 0.152
    ("Translate the following sentence into French.", "What are the main causes of climate change?"),  # 0.074
    ("Summarize the given article in three sentences.", "Suggest a name for a new coffee shop."),  # 0.054
    ("List five tips for improving sleep quality.", "Give me a recipe for chocolate chip cookies."),  # 0.101
    ("Write a poem about the ocean.", "Write a poem about the desert."),  # 0.676 (ROUGE-L 0.833)
]


@pytest.fixture(scope="module")
def embedder() -> Iterator[Embedder]:
    """The packaged model, on one torch thread while this module runs: on the shared 2-core box, two
    OpenMP threads contending with other processes made these tests ~3x slower (45 s against 17 s)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Embedder()
    torch.set_num_threads(threads)


def cosines(embedder: Embedder, pairs: list[tuple[str, str]]) -> np.ndarray:
    vectors = embedder.embed([text for pair in pairs for text in pair])
    return (vectors[0::2] * vectors[1::2]).sum(axis=1)


def test_paraphrases_are_near_duplicates_and_unrelated_tasks_are_not(embedder: Embedder) -> None:
    assert (cosines(embedder, PARAPHRASES) > DEFAULT_THRESHOLD).all()
    assert (cosines(embedder, UNRELATED) <= DEFAULT_THRESHOLD).all()


def test_index_matches_each_paraphrase_to_its_own_original(embedder: Embedder) -> None:
    index = SemanticIndex(texts=[a for a, _ in PARAPHRASES], embedder=embedder)
    assert len(index) == len(PARAPHRASES)
    for original, paraphrase in PARAPHRASES[:3]:
        duplicate, score, match = index.is_near_duplicate(paraphrase)
        assert (duplicate, match) == (True, original) and score > DEFAULT_THRESHOLD
    assert index.is_near_duplicate("Name the capital city of Australia.")[0] is False


def test_distinct_seed_tasks_stay_below_the_threshold(embedder: Embedder, seed_file: Path) -> None:
    seeds = [json.loads(line)["instruction"] for line in seed_file.read_text().splitlines()]
    vectors = embedder.embed(seeds)
    pairs = (vectors @ vectors.T)[np.triu_indices(len(seeds), k=1)]
    assert len(seeds) == 175 and len(pairs) == 15_225
    assert int((pairs > DEFAULT_THRESHOLD).sum()) == 0  # the highest pair is at 0.775
    assert int((pairs > 0.75).sum()) == 2


def test_embeddings_are_unit_norm_and_deterministic(embedder: Embedder) -> None:
    texts = [a for a, _ in PARAPHRASES]
    first, second = embedder.embed(texts), embedder.embed(texts)
    assert first.shape == (len(texts), DIMENSION) and first.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(first, second)
    # Alone or in a padded batch, a text gets the same vector (the mask keeps padding out of the mean).
    np.testing.assert_allclose(embedder.embed(texts[4:5])[0], first[4], atol=1e-5)
    assert embedder.embed([]).shape == (0, DIMENSION)


def test_tiered_index_adds_rewordings_to_the_lexical_verdict(embedder: Embedder) -> None:
    kept = ["Write a poem about the ocean.", "Write a Python function that reverses a string."]
    lexical_only = TieredIndex(NearDuplicateIndex(0.7, kept))
    tiered = TieredIndex(NearDuplicateIndex(0.7, kept), SemanticIndex(texts=kept, embedder=embedder))
    near_copy, rewording = "Write a poem about the desert.", "Implement a function in Python to reverse a given string."

    for index in (lexical_only, tiered):  # ROUGE-L 0.833: the lexical tier decides, with its score
        verdict = index.verdict(near_copy)
        assert (verdict.duplicate, verdict.tier, verdict.match) == (True, "lexical", kept[0])
        assert verdict.score == pytest.approx(0.8333, abs=1e-4)
    assert lexical_only.is_near_duplicate(rewording)[0] is False  # ROUGE-L 0.444
    duplicate, score, match = tiered.is_near_duplicate(rewording)
    assert (duplicate, match) == (True, kept[1]) and score > 0.95
    assert tiered.verdict(rewording).tier == "semantic"

    tiered.add("Name the capital city of Australia.")
    assert len(tiered) == len(tiered.lexical) == len(tiered.semantic) == 3


class TableEmbedder:
    """Fixed vectors by text, counting the texts it embeds: the index's logic without the model."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors, self.embedded = vectors, 0

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded += len(texts)
        return np.array([self.vectors[text] for text in texts], np.float32).reshape(len(texts), DIMENSION)


def unit(*values: float) -> np.ndarray:
    vector = np.zeros(DIMENSION, np.float32)
    vector[: len(values)] = values
    return vector / np.linalg.norm(vector)


def test_semantic_index_logic_with_fixed_vectors() -> None:
    half = np.full(4, 0.5, np.float32)  # unit norm, 0.5 exactly to each axis: a tie with the threshold
    table = {"a": unit(1), "a twin": unit(1), "b": unit(0, 1), "between": unit(*half)}
    embedder = TableEmbedder(table)
    index = SemanticIndex(0.5, embedder=embedder)
    assert index.is_near_duplicate("a") == (False, 0.0, None) and embedder.embedded == 0
    index.add("a")
    assert index.is_near_duplicate("b") == (False, 0.0, "a")
    index.add("b")
    assert embedder.embedded == 2  # the lookup's vector is reused by the add that follows it
    index.add_many(["a twin"])
    assert index.is_near_duplicate("a twin") == (True, 1.0, "a")  # the earliest among ties
    assert index.is_near_duplicate("between") == (False, 0.5, "a")  # not strictly above the threshold
    with pytest.raises(ValueError, match="threshold"):
        SemanticIndex(1.5, embedder=embedder)
    with pytest.raises(ValueError, match="same instructions"):
        TieredIndex(NearDuplicateIndex(0.7, ["a", "b"]), index)


def test_semantic_index_grows_past_its_first_capacity() -> None:
    rng = np.random.default_rng(0)
    texts = [f"t{i}" for i in range(3000)]
    vectors = rng.standard_normal((len(texts), DIMENSION)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = SemanticIndex(0.9, texts[:1500], embedder=TableEmbedder(dict(zip(texts, vectors, strict=True))))
    for text in texts[1500:1600]:
        index.add(text)
    index.add_many(texts[1600:])
    assert len(index) == 3000 and index.nbytes == 3000 * DIMENSION * 4
    assert [index.best_match(t)[1] for t in ("t0", "t1499", "t1550", "t2999")] == ["t0", "t1499", "t1550", "t2999"]
