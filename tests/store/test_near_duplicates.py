from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from store.near_duplicates import NearDuplicateIndex, rouge_l_f, rouge_tokens

PAIRS = [
    ("Write a poem about the sea.", "Write a short poem about the sea."),
    ("Give three tips for staying healthy.", "List three tips to stay healthy."),
    ("Translate the sentence into French.", "Summarize the article in one sentence."),
    ("Name a color.", "Name a colour."),
    ("a b c d e f g h i j", "a b c d e f g x y z"),  # lcs 7 of 10: F = 0.7 exactly, not above
    ("a b c d e f g h i j", "a b c d e f g h y z"),  # 0.8
    ("Ünïcode wörds only", "unicode words only"),
    ("", "anything"),
]


@pytest.mark.parametrize(("candidate", "reference"), PAIRS)
def test_matches_rouge_score_exactly(candidate: str, reference: str) -> None:
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    expected = scorer.score(reference, candidate)["rougeL"].fmeasure
    assert rouge_l_f(rouge_tokens(candidate), rouge_tokens(reference)) == expected


def test_the_boundary_is_strictly_above_the_threshold() -> None:
    index = NearDuplicateIndex(0.7, ["a b c d e f g h i j"])
    assert index.is_near_duplicate("a b c d e f g x y z") == (False, 0.7, "a b c d e f g h i j")
    assert index.is_near_duplicate("a b c d e f g h y z")[0] is True


def test_best_match_picks_the_closest_kept_instruction() -> None:
    index = NearDuplicateIndex(0.7, ["Write a poem about the sea.", "List three tips to stay healthy."])
    assert len(index) == 2
    near, score, match = index.is_near_duplicate("Give three tips to stay healthy.")
    assert near and match == "List three tips to stay healthy." and score == pytest.approx(10 / 12)
    assert index.is_near_duplicate("Explain photosynthesis to a child.")[0] is False
