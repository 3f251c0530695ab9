from __future__ import annotations

import hashlib
import json
import stat
from pathlib import Path

import datasets
import pytest

from domain.fingerprint import fingerprint
from domain.quality import Judgement
from domain.records import CodeCheck, Instance, NewTask
from store import Store
from store.ingest.formats import SeedLimits, parse_seed_upload
from store.snapshots.snapshot import SnapshotSpec, create_snapshot, get_snapshot, list_snapshots, snapshot_file
from store.tasks import add_tasks
from tests.store.conftest import task


@pytest.fixture
def seeded(store: Store, dataset_id: str, seed_bytes: bytes) -> str:
    add_tasks(store, dataset_id, parse_seed_upload(seed_bytes, "jsonl", SeedLimits(), "up"), source="seed", stage="t")
    return dataset_id


PHRASES = [
    "Add one to an integer and hand back the result",
    "Double every value it receives as argument",
    "Subtract three from the number given",
    "Square a whole number by multiplying it by itself",
    "Shift a count upward by exactly ten units",
    "Triple the amount passed in",
    "Decrement its single parameter",
    "Scale a quantity five times over",
    "Increase some integer by seven",
    "Multiply the argument by seven and return that product",
]


def code_task(name: str, body: str, phrase: str) -> NewTask:
    solution = f"def {name}(x):\n    return {body}"
    expected = eval(body.replace("x", "2"))  # our own literal arithmetic
    check = CodeCheck(
        entry_point=name, solution=solution, tests=(f"assert {name}(2) == {expected}",),
        status="passed", tests_passed=1, tests_total=1, duration_s=0.01,
    )  # fmt: skip
    return NewTask(
        instruction=f"{phrase}: implement `{name}(x)`.",
        instances=(Instance(output=f"```python\n{solution}\n```"),), category="code", code=check,
    )  # fmt: skip


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_snapshot_holds_every_task_once_split_and_hashed(store: Store, seeded: str, tmp_path: Path) -> None:
    snap = create_snapshot(store, seeded, SnapshotSpec(format="prompt_completion", seed=7), tmp_path / "snaps")
    folder = Path(snap.path)
    assert snap.number == 1 and folder == tmp_path / "snaps" / snap.id
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest == snap.manifest == get_snapshot(store, snap.id).manifest
    train, validation = lines(folder / "train.jsonl"), lines(folder / "validation.jsonl")
    assert len(train) + len(validation) == 175  # one instance each in the self-instruct seeds
    assert manifest["counts"]["validation"]["tasks"] == len(validation)
    assert 14 <= len(validation) <= 22  # 10% per category, rounded, at least one in categories of 2+
    prompts = lambda rows: {fingerprint(r["prompt"][0]["content"].split("\n\n")[0]) for r in rows}  # noqa: E731
    assert not prompts(train) & prompts(validation)
    assert set(train[0]) == {"prompt", "completion"} and train[0]["completion"][0]["role"] == "assistant"
    for name, entry in manifest["files"].items():
        data = (folder / name).read_bytes()
        assert entry["sha256"] == hashlib.sha256(data).hexdigest() and entry["bytes"] == len(data)
        assert not (folder / name).stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert "code_tests.jsonl" not in manifest["files"]
    loaded = datasets.load_dataset("json", data_files={"train": str(folder / "train.jsonl")}, split="train")
    assert loaded.num_rows == len(train)
    assert "## Counts" in (folder / "README.md").read_text()


def test_a_snapshot_never_changes_when_the_dataset_does(store: Store, seeded: str, tmp_path: Path) -> None:
    first = create_snapshot(store, seeded, SnapshotSpec(), tmp_path)
    before = {p.name: p.read_bytes() for p in Path(first.path).iterdir()}
    add_tasks(store, seeded, [task(f"Describe the colour number {n} of the rainbow in detail.") for n in range(7)],
              source="generated", stage="t")  # fmt: skip
    second = create_snapshot(store, seeded, SnapshotSpec(), tmp_path)
    assert {p.name: p.read_bytes() for p in Path(first.path).iterdir()} == before
    assert get_snapshot(store, first.id).manifest == first.manifest
    assert second.number == 2 and second.manifest["content_sha256"] != first.manifest["content_sha256"]
    assert [s.id for s in list_snapshots(store, seeded)] == [first.id, second.id]


def test_same_request_same_content(store: Store, seeded: str, tmp_path: Path) -> None:
    one = create_snapshot(store, seeded, SnapshotSpec(format="alpaca", seed=3), tmp_path)
    two = create_snapshot(store, seeded, SnapshotSpec(format="alpaca", seed=3), tmp_path)
    assert one.manifest["content_sha256"] == two.manifest["content_sha256"] and one.id != two.id


def test_code_tasks_carry_their_tests_and_verified_only_keeps_just_them(
    store: Store, dataset_id: str, tmp_path: Path
) -> None:
    bodies = ["x + 1", "x * 2", "x - 3", "x * x", "x + 10", "x * 3", "x - 1", "x * 5", "x + 7", "x * 7"]
    names = ["inc", "dbl", "sub3", "sq", "add10", "tri", "dec", "mul5", "add7", "mul7"]
    code_tasks = [code_task(*case) for case in zip(names, bodies, PHRASES, strict=True)]
    add_tasks(store, dataset_id, code_tasks, source="generated", stage="t")
    add_tasks(store, dataset_id, [task("Name three rivers that flow through Europe.")], source="seed", stage="t")
    snap = create_snapshot(store, dataset_id, SnapshotSpec(verified_only=True, validation_fraction=0.2), tmp_path)
    tests = lines(Path(snap.path) / "code_tests.jsonl")
    assert len(tests) == 10 and sum(t["split"] == "validation" for t in tests) == 2
    first = tests[0]
    assert first["entry_point"] in names and first["tests"][0].startswith(f"assert {first['entry_point']}(2)")
    namespace: dict = {}
    exec(first["solution"], namespace)  # our own literal solutions: trusted
    exec(first["tests"][0], namespace)
    assert snap.manifest["counts"]["train"]["by_category"] == {"code": 8}


def test_caps_filters_and_file_names(store: Store, seeded: str, tmp_path: Path) -> None:
    snap = create_snapshot(store, seeded, SnapshotSpec(is_classification=True, per_category_cap=5), tmp_path)
    counts = snap.manifest["counts"]
    assert counts["train"]["tasks"] + counts["validation"]["tasks"] == 5  # the seeds are all `uncategorized`
    assert snap.manifest["selection"]["capped_by_category"] == {"uncategorized": 21}
    assert snapshot_file(store, snap.id, "train.jsonl").name == "train.jsonl"
    for bad in ("../manifest.json", "code_tests.jsonl", "other.txt"):
        with pytest.raises(Exception, match="has no file"):
            snapshot_file(store, snap.id, bad)


def test_sharegpt_snapshots_come_with_a_llama_factory_entry(store: Store, seeded: str, tmp_path: Path) -> None:
    snap = create_snapshot(store, seeded, SnapshotSpec(format="sharegpt"), tmp_path)
    info = json.loads((Path(snap.path) / "dataset_info.json").read_text())
    assert info["test_snapshot1_train"] == {
        "file_name": "train.jsonl", "formatting": "sharegpt", "columns": {"messages": "conversations"},
        "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt",
                 "system_tag": "system"},
    }  # fmt: skip
    assert set(lines(Path(snap.path) / "train.jsonl")[0]) == {"conversations"}


def _judged(score: float) -> Judgement:
    return Judgement(outcome="scored", score=score, criteria={"answer": score}, method="sampled_token",
                     scale_mass=None, judge_model="j", template="judge.v1")  # fmt: skip


def test_a_snapshot_keeps_the_best_tasks_by_the_quality_signals(store: Store, dataset_id: str, tmp_path: Path) -> None:
    flagged = {"quality_flags": [{"reason": "refusal", "instance": 0, "detail": {}}]}
    tasks = [
        task("Name the capital city of France.", judgement=_judged(4.5)),
        task("Name the largest planet in our solar system.", judgement=_judged(2.0)),
        task("Name a mammal that lives in the sea.", judgement=_judged(5.0), provenance=flagged),
        task(
            "Name the number of legs a spider has.",
            judgement=_judged(4.9),
            provenance={"consistency": {"agreement": 0.4}},
        ),  # fmt: skip
        task(
            "Name a colour of the rainbow please.",
            judgement=_judged(3.5),
            provenance={"consistency": {"agreement": 1.0}},
        ),
        task("Name a famous painter from Spain."),  # never judged
    ]
    add_tasks(store, dataset_id, tasks, source="generated", stage="t")
    spec = SnapshotSpec(
        validation_fraction=0.0, exclude_flagged=True, min_agreement=0.6, max_tasks=2, rank_by="quality"
    )
    best = create_snapshot(store, dataset_id, spec, tmp_path / "snaps")
    lines = (Path(best.path) / "train.jsonl").read_text().splitlines()
    assert sorted(json.loads(line)["prompt"][0]["content"] for line in lines) == [
        "Name a colour of the rainbow please.", "Name the capital city of France."]  # fmt: skip
    assert best.manifest["selection"]["cut_by_max_tasks"] == 2
    random_spec = SnapshotSpec(validation_fraction=0.0, max_tasks=2, seed=3)
    first, again = (create_snapshot(store, dataset_id, random_spec, tmp_path / "snaps") for _ in range(2))
    assert first.manifest["counts"]["train"]["tasks"] == 2
    assert first.manifest["content_sha256"] == again.manifest["content_sha256"]  # a seeded, reproducible choice
