from __future__ import annotations

from domain.screening import NEAR_DUPLICATE_THRESHOLD, Duplicate, DuplicateScreen
from store.dedup.near_duplicates import NearDuplicateIndex


def _screen(*kept: str) -> DuplicateScreen:
    screen = DuplicateScreen(set(), NearDuplicateIndex(NEAR_DUPLICATE_THRESHOLD))
    for text in kept:
        screen.remember(text)
    return screen


def test_exact_duplicates_are_found_before_near_ones_and_change_nothing() -> None:
    screen = _screen("Name three rivers of Europe.")
    assert screen.check("name THREE rivers of europe") == Duplicate(kind="exact", score=1.0, match=None)
    assert screen.check("Name three long rivers of Europe.") == Duplicate(
        kind="near", score=screen.index.best_match("Name three long rivers of Europe.")[0],
        match="Name three rivers of Europe.",
    )  # fmt: skip
    assert len(screen.index) == 1 and len(screen.fingerprints) == 1


def test_admit_keeps_new_texts_greedily_in_arrival_order() -> None:
    screen = _screen()
    verdicts = [screen.admit(t) for t in ("Write a haiku about rain.", "Write a haiku about the rain.", "Sum 2 and 3.")]
    assert verdicts[0] is None and verdicts[2] is None
    assert verdicts[1] is not None and verdicts[1].reason == "near_duplicate"
    assert verdicts[1].detail() == {"rouge_l": round(verdicts[1].score, 4), "match": "Write a haiku about rain."}
    assert len(screen.index) == 2  # the near-duplicate was not kept


def test_a_duplicate_names_its_rejection_reason() -> None:
    assert Duplicate(kind="exact", score=1.0, match=None).reason == "exact_duplicate"
    assert Duplicate(kind="exact", score=1.0, match=None).detail() == {}
