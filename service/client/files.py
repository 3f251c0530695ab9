"""Downloads that land whole or not at all: an export into one file, a snapshot into one folder."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path
from typing import Any

import msgspec

from service.client.core import Core
from service.client.errors import IntegrityError
from service.schemas import SnapshotOut


class ExportResult(msgspec.Struct, frozen=True, kw_only=True):
    path: str
    bytes: int
    lines: int


class PullResult(msgspec.Struct, frozen=True, kw_only=True):
    snapshot_id: str
    folder: str
    files: list[str]  # data files, each checked against its SHA-256
    documents: list[str]
    bytes: int


def export_to_file(core: Core, dataset_id: str, path: Path, params: dict[str, Any]) -> ExportResult:
    """Stream the dataset's NDJSON export into `path`: written beside it, renamed over it when complete."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = _beside(path)
    try:
        _, size = core.download(f"/v1/datasets/{dataset_id}/export", partial, params=params)
        lines = _count_lines(partial)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return ExportResult(path=str(path), bytes=size, lines=lines)


def pull_snapshot(core: Core, snapshot: SnapshotOut, folder: Path) -> PullResult:
    """Every file of the snapshot (data and documents) into `folder`, each data file checked against the
    SHA-256 and size the answer gives and the manifest repeats; the folder appears only when all are good.

    Raises FileExistsError when `folder` holds anything, IntegrityError on any mismatch (nothing is kept).
    """
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise FileExistsError(f"{folder} exists and is not an empty folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = _beside(folder)
    staging.mkdir()
    try:
        total = _fetch_all(core, snapshot, staging)
        if folder.exists():
            folder.rmdir()  # empty (checked above): rename cannot replace a folder that holds something
        os.rename(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return PullResult(
        snapshot_id=snapshot.id, folder=str(folder), files=[f.name for f in snapshot.files],
        documents=[d.name for d in snapshot.documents], bytes=total,
    )  # fmt: skip


def _fetch_all(core: Core, snapshot: SnapshotOut, staging: Path) -> int:
    total = 0
    for entry in snapshot.files:
        digest, size = core.download(entry.url, staging / _plain_name(entry.name))
        if digest != entry.sha256:
            raise IntegrityError(entry.name, f"sha256 {entry.sha256}", f"sha256 {digest}")
        if size != entry.bytes:
            raise IntegrityError(entry.name, f"{entry.bytes} bytes", f"{size} bytes")
        total += size
    for document in snapshot.documents:
        total += core.download(document.url, staging / _plain_name(document.name))[1]
    if (staging / "manifest.json").exists():
        _check_manifest(snapshot, (staging / "manifest.json").read_bytes())
    return total


def _check_manifest(snapshot: SnapshotOut, raw: bytes) -> None:
    """The manifest travels with the files: it must name the same files with the same hashes as the answer."""
    try:
        listed = msgspec.json.decode(raw, type=dict[str, Any]).get("files", {})
    except msgspec.DecodeError:
        raise IntegrityError("manifest.json", "a JSON manifest", "a file that is not JSON") from None
    answered = {f.name: f.sha256 for f in snapshot.files}
    found = {name: entry.get("sha256") for name, entry in listed.items()} if isinstance(listed, dict) else {}
    if found != answered:
        raise IntegrityError("manifest.json", f"files {answered}", f"files {found}")


def _beside(path: Path) -> Path:
    """A hidden name in the same folder (so the final rename is atomic), made with the usual permissions,
    unlike tempfile's private 0600/0700 ones."""
    return path.parent / f".{path.name}.{secrets.token_hex(6)}.partial"


def _plain_name(name: str) -> str:
    """A file name from the service, refused if it could leave the folder."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise IntegrityError(name, "a plain file name", repr(name))
    return name


def _count_lines(path: Path) -> int:
    lines = 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            lines += chunk.count(b"\n")
    return lines
