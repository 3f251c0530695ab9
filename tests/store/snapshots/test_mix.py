from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import msgspec
import pytest

from domain.errors import InvalidInputError
from store import Store
from store.snapshots.mix import allocate, largest_total
from store.snapshots.snapshot import Snapshot, SnapshotSpec, create_snapshot
from tests.store.conftest import task
from tests.store.test_sources import add_import, add_imported

NOUNS = ["river", "planet", "violin", "glacier", "lantern", "harbor", "meadow", "compass", "orchid", "volcano"]
VERBS = ["Describe", "Explain", "Summarize", "Compare", "Define", "Praise", "Sketch", "Question", "Rank", "Draw"]


def instructions(prefix: str, count: int) -> list[str]:
    """`count` distinct instructions (no two near-duplicates of each other, so splits keep them all)."""
    return [f"{VERBS[i % 10]} the {NOUNS[i // 10 % 10]} of {prefix} number {i} in {i % 7 + 2} sentences"
            for i in range(count)]  # fmt: skip


@pytest.fixture
def sources(store: Store, dataset_id: str) -> str:
    """alpaca: 100 tasks (80 `qa`, 20 `math`), CC-BY-NC-4.0; dolly: 30 tasks (`qa`), CC-BY-SA-3.0."""
    add_import(store, dataset_id, "im_alpaca", "alpaca", "CC-BY-NC-4.0", url="https://example.org/alpaca", rows=100,
               added=100)  # fmt: skip
    texts = instructions("alpaca", 100)
    add_imported(store, dataset_id, "alpaca", "im_alpaca",
                 [task(t, category="qa" if i < 80 else "math") for i, t in enumerate(texts)])  # fmt: skip
    add_import(store, dataset_id, "im_dolly", "dolly", "CC-BY-SA-3.0", rows=30, added=30)
    add_imported(store, dataset_id, "dolly", "im_dolly", [task(t, category="qa") for t in instructions("dolly", 30)])
    return dataset_id


def snapshot(store: Store, dataset_id: str, tmp_path: Path, mix: dict, **spec) -> Snapshot:
    built = msgspec.convert({"mix": mix, **spec}, SnapshotSpec)
    return create_snapshot(store, dataset_id, built, tmp_path / "snaps")


def shares(entries: list[dict]) -> dict[str, tuple]:
    return {e["name"]: (e["tasks"], e["share"]) for e in entries}


def test_allocate_shares_by_weight_and_gives_a_short_group_all_it_has() -> None:
    half = {"a": Fraction(1, 2), "b": Fraction(1, 2)}
    assert allocate({"a": 100, "b": 30}, half, 60) == ({"a": 30, "b": 30}, set())
    assert allocate({"a": 100, "b": 30}, half, 100) == ({"b": 30, "a": 70}, {"b"})
    assert allocate({"a": 10, "b": 30}, half, 100) == ({"a": 10, "b": 30}, {"a", "b"})  # nothing left to share
    assert allocate({"a": 9, "b": 9, "c": 9}, {g: Fraction(1) for g in "abc"}, 10) == ({"a": 4, "b": 3, "c": 3}, set())
    assert largest_total({"a": 100, "b": 30}, half) == 60
    assert largest_total({"a": 100, "b": 30}, {"a": Fraction(2), "b": Fraction(1)}) == 90
    assert largest_total({"a": 100, "b": 0}, half) == 200  # an empty group cannot size the mix: it is short


def test_half_and_half_of_100_and_30_gives_30_and_30(store: Store, sources: str, tmp_path: Path) -> None:
    snap = snapshot(store, sources, tmp_path, {"sources": {"alpaca": {"weight": 0.5}, "dolly": {"weight": 0.5}}})
    mix = snap.manifest["mix"]
    assert mix["tasks"] == 60 and mix["notes"] == [] and mix["order"] == ["categories", "sources"]
    assert mix["sources"] == [
        {"name": "alpaca", "rule": "weight", "weight": 0.5, "cap": None, "available": 100, "target": 30,
         "requested_share": 0.5, "short": False, "tasks": 30, "share": 0.5},
        {"name": "dolly", "rule": "weight", "weight": 0.5, "cap": None, "available": 30, "target": 30,
         "requested_share": 0.5, "short": False, "tasks": 30, "share": 0.5},
    ]  # fmt: skip
    assert {e["name"]: e["rule"] for e in mix["categories"]} == {"math": "kept", "qa": "kept"}
    assert mix["categories"][0]["available"] is None  # categories were not mixed: only what the snapshot holds
    assert mix["recipe"]["sources"] == {"alpaca": {"weight": 0.5, "cap": None}, "dolly": {"weight": 0.5, "cap": None}}
    assert snap.manifest["selection"]["cut_by_mix"] == 70 and snap.manifest["selection"]["matched"] == 130
    counts = snap.manifest["counts"]
    assert counts["train"]["tasks"] + counts["validation"]["tasks"] == 60
    assert [(s["source"], s["tasks"], s["share"], s["licenses"]) for s in snap.manifest["sources"]] == [
        ("alpaca", 30, 0.5, ["CC-BY-NC-4.0"]), ("dolly", 30, 0.5, ["CC-BY-SA-3.0"])]
    assert [w["code"] for w in snap.manifest["licence_warnings"]] == [
        "non_commercial", "share_alike_non_commercial", "attribution_required"]
    card = (Path(snap.path) / "README.md").read_text()
    assert "## Sources and licences" in card and "| alpaca | 30 | 30 | 50.0% | CC-BY-NC-4.0 |" in card
    assert "## Mixing recipe" in card and "| dolly | weight | 0.5 | 30 | 50.0% | 30 | 50.0% |" in card
    assert "non_commercial: the mix inherits a non-commercial licence from alpaca" in card


def test_a_total_beyond_a_short_source_takes_all_of_it_and_says_so(store: Store, sources: str, tmp_path: Path) -> None:
    recipe = {"sources": {"alpaca": {"weight": 0.5}, "dolly": {"weight": 0.5}}, "total": 100}
    mix = snapshot(store, sources, tmp_path, recipe).manifest["mix"]
    assert mix["tasks"] == 100 and shares(mix["sources"]) == {"alpaca": (70, 0.7), "dolly": (30, 0.3)}
    assert [(e["target"], e["requested_share"], e["short"]) for e in mix["sources"]] == [(50, 0.5, False),
                                                                                         (50, 0.5, True)]
    assert mix["notes"] == ["source dolly: 30 tasks, fewer than the 50 its weight asked for: all taken (share 0.3 "
                            "instead of 0.5)"]  # fmt: skip


def test_caps_keep_unnamed_sources_unless_others_drop(store: Store, sources: str, tmp_path: Path) -> None:
    mix = snapshot(store, sources, tmp_path, {"sources": {"alpaca": {"cap": 10}}}).manifest["mix"]
    assert shares(mix["sources"]) == {"alpaca": (10, 0.25), "dolly": (30, 0.75)}
    assert [(e["rule"], e["cap"], e["target"]) for e in mix["sources"]] == [("cap", 10, 10), ("kept", None, 30)]
    dropped = snapshot(store, sources, tmp_path, {"sources": {"alpaca": {"cap": 10}}, "others": "drop"})
    assert shares(dropped.manifest["mix"]["sources"]) == {"alpaca": (10, 1.0), "dolly": (0, 0.0)}
    assert dropped.manifest["mix"]["sources"][1]["rule"] == "dropped"


def test_category_weights(store: Store, sources: str, tmp_path: Path) -> None:
    recipe = {"categories": {"qa": {"weight": 3}, "math": {"weight": 1}}}
    mix = snapshot(store, sources, tmp_path, recipe).manifest["mix"]
    assert shares(mix["categories"]) == {"math": (20, 0.25), "qa": (60, 0.75)}  # math's 20 size it: 80 in all
    assert sum(e["tasks"] for e in mix["sources"]) == 80 and mix["sources"][0]["rule"] == "kept"


def test_categories_then_sources_with_a_total(store: Store, sources: str, tmp_path: Path) -> None:
    recipe = {"categories": {"math": {"cap": 5}}, "sources": {"alpaca": {"weight": 1}, "dolly": {"weight": 1}},
              "total": 40}  # fmt: skip
    manifest = snapshot(store, sources, tmp_path, recipe).manifest
    assert shares(manifest["mix"]["sources"]) == {"alpaca": (20, 0.5), "dolly": (20, 0.5)}
    math = next(e for e in manifest["mix"]["categories"] if e["name"] == "math")
    assert (math["rule"], math["available"], math["target"]) == ("cap", 20, 5) and math["tasks"] <= 5
    assert sum(e["tasks"] for e in manifest["mix"]["categories"]) == 40


def test_the_same_recipe_and_seed_picks_the_same_tasks(store: Store, sources: str, tmp_path: Path) -> None:
    recipe = {"sources": {"alpaca": {"weight": 2}, "dolly": {"weight": 1}}, "total": 45}
    first, again = (snapshot(store, sources, tmp_path, recipe, seed=3) for _ in range(2))
    other = snapshot(store, sources, tmp_path, recipe, seed=4)
    assert first.manifest["content_sha256"] == again.manifest["content_sha256"] != other.manifest["content_sha256"]
    assert shares(first.manifest["mix"]["sources"]) == {"alpaca": (30, 0.6667), "dolly": (15, 0.3333)}
    train = [json.loads(line) for line in (Path(first.path) / "train.jsonl").read_text().splitlines()]
    assert train == [json.loads(line) for line in (Path(again.path) / "train.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    ("mix", "code", "unknown"),
    [({"sources": {"alpacca": {"weight": 1}}}, "unknown_source", ["alpacca"]),
     ({"categories": {"poetry": {"cap": 3}, "qa": {"cap": 3}}}, "unknown_category", ["poetry"])],
)  # fmt: skip
def test_naming_what_the_dataset_does_not_hold_is_refused(
    store: Store, sources: str, tmp_path: Path, mix: dict, code: str, unknown: list[str]
) -> None:
    with pytest.raises(InvalidInputError) as caught:
        snapshot(store, sources, tmp_path, mix)
    assert caught.value.code == code and caught.value.extra["unknown"] == unknown
    assert not (tmp_path / "snaps").exists() or not any((tmp_path / "snaps").iterdir())


def test_a_total_below_what_caps_and_unnamed_keep_is_refused(store: Store, sources: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError) as caught:
        snapshot(store, sources, tmp_path, {"sources": {"alpaca": {"weight": 1}}, "total": 20})
    assert caught.value.code == "mix_total_too_small" and caught.value.extra == {"total": 20, "kept": 30}


def test_no_recipe_records_none_and_the_sources_still(store: Store, sources: str, tmp_path: Path) -> None:
    snap = create_snapshot(store, sources, SnapshotSpec(), tmp_path / "snaps")
    assert snap.manifest["mix"] is None and snap.manifest["selection"]["cut_by_mix"] == 0
    assert [(s["source"], s["tasks"]) for s in snap.manifest["sources"]] == [("alpaca", 100), ("dolly", 30)]
    assert "No mixing recipe" in (Path(snap.path) / "README.md").read_text()


@pytest.mark.parametrize(
    ("mix", "spec", "message"),
    [({"sources": {"a": {"weight": 1, "cap": 2}}}, {}, "either a weight or a cap"),
     ({"sources": {"a": {"cap": 2}}, "total": 5}, {}, "give a weight"),
     ({"sources": {"a": {"weight": 1}}, "total": 5}, {"max_tasks": 3}, "not both"),
     ({}, {}, "at least one source or category"),
     ({"sources": {"a": {"weight": 1}}, "share": 2}, {}, "unknown field `share`")],
)  # fmt: skip
def test_bad_recipes_are_refused_as_requests(mix: dict, spec: dict, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.convert({"mix": mix, **spec}, SnapshotSpec)

