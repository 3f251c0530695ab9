"""Putting a snapshot in place so that a crash at any moment leaves no half of one: folder and row agree.

The order, each step durable before the next:
1. write     every file into `root/.<id>.partial/` (data files first, outside the write lock; then, under
             it, the number, manifest, data card and LLaMA-Factory entry)
2. sync      fsync each file, make it read-only, fsync the folder
3. move      rename the folder to `root/<id>/`, fsync `root`: the folder is complete where it is
4. record    insert the row and commit: from here the snapshot exists

A crash before 3 leaves a `.partial` folder; between 3 and 4 a complete folder with no row. Neither is a
snapshot, and `settle_snapshots` (run at every start, before the API serves) removes both. A row is only
ever committed for a folder already complete and durable, so every row has its folder.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

import msgspec

from store.database import Store
from store.snapshots.card import data_card
from store.snapshots.files import llama_factory_info

log = logging.getLogger("instructforge.snapshots")

PARTIAL_SUFFIX = ".partial"
SPLITS = ("train", "validation")
_json = msgspec.json.Encoder()
_INSERT = "INSERT INTO snapshots (id, dataset_id, number, format, path, manifest) VALUES (?, ?, ?, ?, ?, ?)"


def partial_folder(root: Path, snapshot_id: str) -> Path:
    return root / f".{snapshot_id}{PARTIAL_SUFFIX}"


def publish(store: Store, manifest: dict[str, Any], work: Path, final: Path) -> None:
    """Steps 1 (the documents) to 4 under the write lock, so numbers are handed out in commit order."""
    with store.write() as cur:
        dataset_id = manifest["dataset_id"]
        number = cur.execute(
            "SELECT coalesce(max(number), 0) + 1 FROM snapshots WHERE dataset_id = ?", [dataset_id]
        ).fetchall()[0][0]
        manifest["number"] = number
        write_documents(manifest, work)
        sync_folder(work)
        move_into_place(work, final)
        try:
            record(cur, manifest, final)
        except BaseException:
            shutil.rmtree(final, ignore_errors=True)  # the transaction rolls back: no row, so no folder
            raise


def write_documents(manifest: dict[str, Any], work: Path) -> None:
    name = f"{manifest['dataset_name']}_snapshot{manifest['number']}"
    splits = [s for s in SPLITS if manifest["files"][f"{s}.jsonl"]["records"]]
    (work / "dataset_info.json").write_bytes(_json.encode(llama_factory_info(name, manifest["format"], splits)))
    (work / "README.md").write_text(data_card(manifest))
    (work / "manifest.json").write_bytes(msgspec.json.format(_json.encode(manifest)))


def sync_files(work: Path) -> None:
    for path in work.iterdir():
        with path.open("rb") as handle:
            os.fsync(handle.fileno())


def sync_folder(work: Path) -> None:
    """Every file on disk and read-only, then the folder's entries (files synced before cost little again)."""
    sync_files(work)
    for path in work.iterdir():
        path.chmod(0o444)
    fsync_directory(work)


def move_into_place(work: Path, final: Path) -> None:
    os.rename(work, final)
    fsync_directory(final.parent)  # the rename itself survives a power cut


def record(cur, manifest: dict[str, Any], final: Path) -> None:
    cur.execute(_INSERT, [manifest["snapshot_id"], manifest["dataset_id"], manifest["number"], manifest["format"],
                          str(final), _json.encode(manifest).decode()])  # fmt: skip


def fsync_directory(path: Path) -> None:
    descriptor = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class SettleReport(msgspec.Struct, frozen=True, kw_only=True):
    partial_removed: list[str]  # `.partial` folders: a crash before the move
    unrecorded_removed: list[str]  # complete folders without a row: a crash between the move and the commit
    rows_without_folder: list[str]  # snapshot ids whose folder is gone (removed by hand): their rows are deleted


def settle_snapshots(store: Store, root: Path) -> SettleReport:
    """Bring folders and rows back into agreement after a crash; call before serving (nothing else writes)."""
    with store.read() as cur:
        rows = dict(cur.execute("SELECT id, path FROM snapshots").fetchall())
    partial, unrecorded = [], []
    if root.is_dir():
        for entry in sorted(root.iterdir()):
            if entry.name.startswith(".") and entry.name.endswith(PARTIAL_SUFFIX):
                partial.append(entry.name)
            elif entry.is_dir() and entry.name not in rows:
                unrecorded.append(entry.name)
            else:
                continue
            shutil.rmtree(entry)
    missing = sorted(snapshot_id for snapshot_id, path in rows.items() if not Path(path).is_dir())
    if missing:
        with store.write() as cur:
            cur.execute(f"DELETE FROM snapshots WHERE id IN ({', '.join('?' * len(missing))})", missing)
    report = SettleReport(partial_removed=partial, unrecorded_removed=unrecorded, rows_without_folder=missing)
    if partial or unrecorded or missing:
        log.warning("snapshots settled after an unclean stop: %s", msgspec.json.encode(report).decode())
    return report
