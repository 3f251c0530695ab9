"""Multi-turn chats in snapshots: every turn in the chat formats, the first exchange in Alpaca's (counted and said
in the data card), per-split counts of multi-turn records and turns, and tasks with no answer left out and counted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from domain.errors import ConflictError
from domain.records import Conversation, Instance, NewTask, Turn
from store import Store
from store.export import CHAT_FORMATS
from store.snapshots.snapshot import SnapshotSpec, create_snapshot
from store.tasks import add_tasks
from tests.store.conversations import chat_tasks, expected_alpaca_lines, expected_chat_lines, expected_text

SNAPSHOT_SYSTEM = "You are a careful assistant. $PROMPT stays text."


def split_counts(records: int, multi: int, turns: int, cut: int) -> dict[str, int]:
    return {"records": records, "multi_turn_records": multi, "turns": turns, "conversations_cut_to_first_exchange": cut}


def without_categories(counts: dict) -> dict:
    return {key: value for key, value in counts.items() if key not in ("tasks", "by_category")}


@pytest.mark.parametrize("fmt", CHAT_FORMATS)
def test_chat_formats_keep_every_turn_and_each_records_own_system_prompt(
    store: Store, dataset_id: str, tmp_path: Path, fmt: str
) -> None:
    add_tasks(store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    spec = SnapshotSpec(format=fmt, validation_fraction=0, system_prompt=SNAPSHOT_SYSTEM)  # type: ignore[arg-type]
    snap = create_snapshot(store, dataset_id, spec, tmp_path)
    # The chats keep their own system prompts (data); the plain task takes the snapshot's.
    assert (Path(snap.path) / "train.jsonl").read_text() == expected_text(expected_chat_lines(fmt, SNAPSHOT_SYSTEM))
    counts = snap.manifest["counts"]
    assert without_categories(counts["train"]) == split_counts(records=3, multi=1, turns=6 + 2 + 2, cut=0)
    assert counts["train"]["tasks"] == 3 and without_categories(counts["validation"]) == split_counts(0, 0, 0, 0)
    assert snap.manifest["selection"]["unanswered"] == 2 and snap.manifest["selection"]["matched"] == 5
    card = (Path(snap.path) / "README.md").read_text()
    assert "Multi-turn conversations kept whole (every turn, up to the last answer): 1 records." in card
    assert "| **multi-turn records** | 1 | 0 |" in card and "| **turns (user and assistant)** | 10 | 0 |" in card
    assert "left out with no answer yet: 2" in card and "cut to their first exchange" not in card


def test_alpaca_takes_the_first_exchange_and_says_how_many_chats_it_cut(
    store: Store, dataset_id: str, tmp_path: Path
) -> None:
    add_tasks(store, dataset_id, chat_tasks(), source="sharegpt-demo", stage="t")
    snap = create_snapshot(store, dataset_id, SnapshotSpec(format="alpaca", validation_fraction=0), tmp_path)
    assert (Path(snap.path) / "train.jsonl").read_text() == expected_text(expected_alpaca_lines())
    assert without_categories(snap.manifest["counts"]["train"]) == split_counts(records=3, multi=1, turns=6, cut=1)
    card = (Path(snap.path) / "README.md").read_text()
    assert "Multi-turn conversations cut to their first exchange: 1 records. The `alpaca` format holds one" in card


def test_per_split_counts_match_the_files(store: Store, dataset_id: str, tmp_path: Path) -> None:
    tasks = []
    for n in range(12):
        exchanges = 1 + n % 3  # 1, 2 or 3 exchanges
        turns = [Turn(role=r, content=f"{r} {n} {k}") for k in range(exchanges) for r in ("user", "assistant")]
        tasks.append(NewTask(instruction=turns[0].content, instances=(Instance(output=turns[1].content),),
                             conversation=Conversation(turns=tuple(turns)), category="chat"))  # fmt: skip
    add_tasks(store, dataset_id, tasks, source="sharegpt-demo", stage="t")
    snap = create_snapshot(store, dataset_id, SnapshotSpec(format="messages", validation_fraction=0.5), tmp_path)
    for split in ("train", "validation"):
        records = [
            json.loads(line)["messages"] for line in (Path(snap.path) / f"{split}.jsonl").read_text().splitlines()
        ]
        assert records, split
        expected = split_counts(records=len(records), multi=sum(len(r) > 2 for r in records),
                                turns=sum(len(r) for r in records), cut=0)  # fmt: skip
        assert without_categories(snap.manifest["counts"][split]) == expected
    assert sum(snap.manifest["counts"][s]["multi_turn_records"] for s in ("train", "validation")) == 8


def test_a_selection_of_unanswered_tasks_only_is_refused(store: Store, dataset_id: str, tmp_path: Path) -> None:
    add_tasks(store, dataset_id, chat_tasks()[3:], source="sharegpt-demo", stage="t")  # the two with no answer
    with pytest.raises(ConflictError, match="of the 2 matching tasks, 2 have no answer yet") as refused:
        create_snapshot(store, dataset_id, SnapshotSpec(), tmp_path / "s")
    assert refused.value.extra == {"matched": 2, "excluded_contaminated": 0, "format": "prompt_completion"}
    assert not (tmp_path / "s").exists()
