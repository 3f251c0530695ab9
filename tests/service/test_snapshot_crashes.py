"""SIGKILL at every step of making a snapshot, in a real `instructforge serve`; then restart and check.

The server under test is the real command (`service.cli.main`) started by a small launcher that wraps one
named step so the process kills itself with SIGKILL right after it (or, for the data files, halfway
through writing one). After a restart: no `.partial` folder, every snapshot row has its complete folder
(every file of the manifest there with its hash) and every folder its row; a new snapshot works.
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
from pathlib import Path

import httpx
import pytest

from tests.service.servers import Server, free_port

pytestmark = pytest.mark.server

LAUNCHER = """
import os, signal, sys
import importlib

module_name, function_name = sys.argv.pop(1).split(":")
module = importlib.import_module(module_name)
original = getattr(module, function_name)

def killed_after(*args, **kwargs):
    result = original(*args, **kwargs)
    os.kill(os.getpid(), signal.SIGKILL)
    return result

setattr(module, function_name, killed_after)
from service.cli import main
sys.argv = ["instructforge", "serve"]
main()
"""
# (module:function wrapped, snapshots that must exist after the restart)
STEPS = [
    ("store.snapshots.files:concatenated_lines", 0),  # halfway through train.jsonl
    ("store.snapshots.snapshot:_write_files", 0),  # every data file written, nothing synced
    ("store.snapshots.publish:write_documents", 0),  # under the write lock: manifest and card written
    ("store.snapshots.publish:sync_folder", 0),  # fsynced and read-only, still `.partial`
    ("store.snapshots.publish:move_into_place", 0),  # a complete folder in place, no row
    ("store.snapshots.publish:record", 0),  # the row inserted, not committed
    ("store.snapshots.publish:publish", 1),  # committed
]


def check_agreement(server: Server, data_dir: Path, dataset: str) -> list[str]:
    """Rows (as the API lists them) and folders agree, each folder holding what its manifest says."""
    root = data_dir / "snapshots"
    folders = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
    assert not [name for name in folders if name.endswith(".partial")], folders
    rows = {s["id"]: s["manifest"] for s in httpx.get(f"{server.url}/v1/datasets/{dataset}/snapshots").json()["items"]}
    assert sorted(rows) == folders
    for snapshot_id, manifest in rows.items():
        assert json.loads((root / snapshot_id / "manifest.json").read_text()) == manifest
        for name, entry in manifest["files"].items():
            assert hashlib.sha256((root / snapshot_id / name).read_bytes()).hexdigest() == entry["sha256"]
    return folders


@pytest.mark.parametrize(("step", "expected"), STEPS, ids=[step.split(":")[1] for step, _ in STEPS])
def test_sigkill_at_each_step_of_a_snapshot_leaves_no_half_snapshot(
    tmp_path: Path, seed_bytes: bytes, step: str, expected: int
) -> None:
    data_dir = tmp_path / "data"
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    server = Server(data_dir, free_port(), command=[sys.executable, str(launcher), step])
    try:
        server.wait_ready()
        dataset = httpx.post(f"{server.url}/v1/datasets", json={"name": "crash"}).json()["id"]
        uploaded = httpx.post(f"{server.url}/v1/datasets/{dataset}/seeds", content=seed_bytes,
                              headers={"content-type": "application/x-ndjson"}, timeout=60)  # fmt: skip
        assert uploaded.status_code == 200, uploaded.text
        with pytest.raises(httpx.TransportError):  # the process dies during the request
            httpx.post(f"{server.url}/v1/datasets/{dataset}/snapshots", json={}, timeout=60)
        assert server.process.wait(timeout=30) == -signal.SIGKILL
        root = data_dir / "snapshots"
        assert root.is_dir() and any(root.iterdir()), "the kill came after something was written"
    finally:
        server.stop(signal.SIGKILL)

    again = Server(data_dir, free_port())
    try:
        again.wait_ready()
        assert len(check_agreement(again, data_dir, dataset)) == expected
        listed = httpx.get(f"{again.url}/v1/datasets/{dataset}/snapshots").json()["items"]
        assert [s["number"] for s in listed] == list(range(1, expected + 1))
        made = httpx.post(f"{again.url}/v1/datasets/{dataset}/snapshots", json={}, timeout=60)
        assert made.status_code == 201 and made.json()["number"] == expected + 1, made.text
        for entry in made.json()["files"]:
            assert httpx.get(f"{again.url}{entry['url']}").status_code == 200
        assert len(check_agreement(again, data_dir, dataset)) == expected + 1
    finally:
        again.stop(signal.SIGKILL)
