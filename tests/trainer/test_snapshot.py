from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.trainer.snapshots import FORMATS, training_snapshot
from trainer.formats import to_prompt_completion
from trainer.snapshot import SnapshotError, load_snapshot


@pytest.mark.parametrize("fmt", FORMATS)
def test_fixture_snapshots_load_in_every_format(tmp_path: Path, fmt: str) -> None:
    snapshot = load_snapshot(training_snapshot(tmp_path / fmt, fmt))
    assert snapshot.format == fmt
    assert snapshot.manifest.snapshot_id == "sn_test0001"
    train, validation = snapshot.records("train"), snapshot.records("validation")
    assert (len(train), len(validation)) == (40, 8)
    pairs = [to_prompt_completion(record, fmt) for record in validation]  # type: ignore[arg-type]
    assert pairs[0]["prompt"] == [{"role": "user", "content": "Add the two numbers.\n\n3 and 4"}]
    assert [task.entry_point for task in snapshot.code_tasks("validation")] == ["last", "first", "halve"]
    assert len(snapshot.code_tasks("train")) == 5
    assert len(snapshot.code_tasks()) == 8


def test_a_changed_file_fails_its_check(tmp_path: Path) -> None:
    folder = training_snapshot(tmp_path / "s")
    with (folder / "train.jsonl").open("a") as out:
        out.write('{"prompt": [], "completion": []}\n')
    with pytest.raises(SnapshotError, match="sha256"):
        load_snapshot(folder)
    assert len(load_snapshot(folder, verify=False).records("train")) == 41


def test_a_wrong_record_count_fails(tmp_path: Path) -> None:
    folder = training_snapshot(tmp_path / "s")
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["files"]["validation.jsonl"]["records"] = 9
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="8 records, the manifest says 9"):
        load_snapshot(folder)


def test_missing_manifest_and_missing_split_are_errors(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="manifest.json is missing"):
        load_snapshot(tmp_path)
    folder = training_snapshot(tmp_path / "s")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["files"]["validation.jsonl"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SnapshotError, match="no validation.jsonl"):
        load_snapshot(folder)


def test_a_listed_file_that_is_gone_is_an_error(tmp_path: Path) -> None:
    folder = training_snapshot(tmp_path / "s")
    os.remove(folder / "code_tests.jsonl")
    with pytest.raises(SnapshotError, match="missing"):
        load_snapshot(folder)
