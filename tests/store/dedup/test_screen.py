from __future__ import annotations

import pytest
from rouge_score import rouge_scorer

from domain.errors import NotFoundError
from domain.fingerprint import fingerprint
from store import Store
from store.dedup.screen import dataset_instruction_texts, open_screen
from store.tasks import add_tasks
from tests.store.conftest import task

_SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)


def test_a_restart_rebuilds_the_screen_from_the_store(store: Store, dataset_id: str) -> None:
    instructions = [
        "Write a short poem about the sea at night.",
        "List three tips for staying healthy during winter.",
        "Explain how a refrigerator works to a ten-year-old.",
        *(f"Describe the history of city number {i} in two sentences." for i in range(600)),
    ]
    add_tasks(store, dataset_id, [task(i) for i in instructions], source="seed", stage="upload")
    for exact_below in (500, 0):  # exhaustive below 500 kept instructions, the LSH above
        screen = open_screen(store, dataset_id, 0.7, exact_below=exact_below)
        assert len(screen.index) == len(instructions)
        assert screen.fingerprints == {fingerprint(i) for i in instructions}
        query = "Please list three tips for staying healthy in winter."
        duplicate = screen.check(query)
        expected = _SCORER.score(instructions[1], query)["rougeL"].fmeasure
        assert duplicate is not None and duplicate.kind == "near" and duplicate.match == instructions[1]
        assert duplicate.score == expected
        assert screen.check("WRITE a short poem about the sea, at night!").kind == "exact"
        assert screen.check("Translate the sentence into German.") is None


def test_an_empty_dataset_has_an_empty_screen_and_an_unknown_one_is_an_error(store: Store, dataset_id: str) -> None:
    screen = open_screen(store, dataset_id)
    assert len(screen.index) == 0 and screen.fingerprints == set()
    assert dataset_instruction_texts(store, dataset_id) == ([], set())
    with pytest.raises(NotFoundError):
        open_screen(store, "no-such-dataset")
