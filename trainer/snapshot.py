"""Reading an exported snapshot folder: the manifest, the split files and the optional code tests.

The trainer's only input. Each listed file is checked against the manifest (SHA-256 of its bytes, record
count) before use, so a fine-tune names exactly the data it saw: the manifest's `content_sha256` goes into
`train_config.json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import msgspec

SnapshotFormat = Literal["prompt_completion", "messages", "alpaca", "sharegpt"]
Split = Literal["train", "validation"]
MANIFEST_NAME = "manifest.json"
CODE_TESTS_NAME = "code_tests.jsonl"


class SnapshotError(Exception):
    """The folder is not a readable snapshot: missing or malformed manifest, a file that fails its check."""


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str
    records: int


class Manifest(msgspec.Struct, frozen=True, kw_only=True):
    """The keys the trainer relies on; the exporter may add others, which are ignored."""

    snapshot_id: str
    dataset_id: str
    format: SnapshotFormat
    files: dict[str, FileEntry]
    content_sha256: str
    counts: dict[str, Any] = {}
    created_at: str = ""


class CodeTask(msgspec.Struct, frozen=True, kw_only=True):
    """One line of code_tests.jsonl: a task whose answers are checked by running its tests."""

    split: Split
    task_id: int
    instruction: str
    input: str = ""
    solution: str = ""
    tests: list[str]
    entry_point: str = ""


@dataclass(frozen=True)
class Snapshot:
    path: Path
    manifest: Manifest

    @property
    def format(self) -> SnapshotFormat:
        return self.manifest.format

    def records(self, split: Split) -> list[dict[str, Any]]:
        return _read_jsonl(self.path / f"{split}.jsonl")

    def code_tasks(self, split: Split | None = None) -> list[CodeTask]:
        """The code tasks of one split (all splits when None); empty when the snapshot has no code tests."""
        if CODE_TESTS_NAME not in self.manifest.files:
            return []
        lines = (self.path / CODE_TESTS_NAME).read_bytes().split(b"\n")
        try:
            tasks = [msgspec.json.decode(line, type=CodeTask) for line in lines if line.strip()]
        except msgspec.ValidationError as exc:
            raise SnapshotError(f"{CODE_TESTS_NAME}: {exc}") from None
        return [task for task in tasks if split is None or task.split == split]


def load_snapshot(path: Path, *, verify: bool = True) -> Snapshot:
    """Open a snapshot folder; with `verify`, check every listed file's hash and record count."""
    manifest_path = path / MANIFEST_NAME
    if not manifest_path.is_file():
        raise SnapshotError(f"{path} is not a snapshot: {MANIFEST_NAME} is missing")
    try:
        manifest = msgspec.json.decode(manifest_path.read_bytes(), type=Manifest)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise SnapshotError(f"{manifest_path}: {exc}") from None
    for split in ("train", "validation"):
        if f"{split}.jsonl" not in manifest.files:
            raise SnapshotError(f"{manifest_path} lists no {split}.jsonl")
    if verify:
        for name, entry in manifest.files.items():
            check_file(path / name, entry)
    return Snapshot(path=path, manifest=manifest)


def check_file(path: Path, entry: FileEntry) -> None:
    if not path.is_file():
        raise SnapshotError(f"{path} is listed in the manifest but missing")
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if digest != entry.sha256:
        raise SnapshotError(f"{path}: sha256 {digest} does not match the manifest's {entry.sha256}")
    records = sum(1 for line in data.split(b"\n") if line.strip())
    if records != entry.records:
        raise SnapshotError(f"{path}: {records} records, the manifest says {entry.records}")


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    records = []
    for number, line in enumerate(path.read_bytes().split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise SnapshotError(f"{path}:{number}: {exc}") from None
    return records
