"""A shared duplicate screen on disk, so that a restarted service loads it instead of rebuilding it from DuckDB.

Why: rebuilding a dataset's near-duplicate index reads and re-hashes every stored instruction (35 s of CPU per
million tasks on the bench machine); reading its file back takes 2-3 s. One Arrow IPC file per dataset and threshold
under `<data_dir>/index/`, one row whose columns are the arrays (memory-mapped when read: the band entries,
the bulk of it, are used in place). The schema's metadata carries the format version, the index parameters,
the last task id taken in, the checksums the database is checked against, and a digest of every column.

The file is a cache; the database stays the one source of truth. A file is used only if it reads back whole
(Arrow's footer, the digests), was written by this format with the same parameters, and the dataset's tasks
with an id up to `last_id` are exactly the ones it holds: their count, the sum of their ids and the sum and
xor of their fingerprints, from SQL, equal the file's. Anything else, a missing, truncated, corrupt, foreign
or stale file, is reported as such and the caller rebuilds. Rows committed after the save have higher ids
(one writer hands them out in commit order) and are caught up by the screen's `refresh`.

Writes go to a temporary file beside the target, flushed to disk, then `os.replace`d: a reader sees the old
file or the new one, never half of one. A crash leaves at most a temporary file, which no reader opens.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import duckdb
import numpy as np
import pyarrow as pa
import xxhash

from store.dedup.instruction_codes import CELLS

log = logging.getLogger("instructforge.screens")

FORMAT_VERSION = 1
_SUFFIX = ".screen.arrow"
_TEMP = ".tmp-"  # temporary files: <name>.tmp-<random>, never read
_KEY = b"instructforge.screen"
_UPTO = """SELECT count(*), coalesce(sum(id), 0), coalesce(bit_xor(fingerprint), 0), coalesce(sum(fingerprint), 0)
           FROM tasks WHERE dataset_id = ? AND id <= ?"""


class ScreenState(NamedTuple):
    """A shared screen's content: what it took in (ids up to `last_id`), its fingerprints and its index."""

    dataset_id: str
    threshold: float
    params: dict[str, Any]
    last_id: int
    id_sum: int
    fingerprints: np.ndarray  # int64, one per task
    texts: list[str]
    codes: list[str]
    cells: np.ndarray  # (tasks, CELLS) uint8
    tokens: list[str]
    overflowed: bool
    entries: np.ndarray  # the band runs merged into one sorted uint64 array
    directory: np.ndarray


class Checksums(NamedTuple):
    """What identifies a dataset's tasks up to an id: compared between the database and a file."""

    count: int
    id_sum: int
    fingerprint_xor: int
    fingerprint_sum: int


def database_checksums(cur: duckdb.DuckDBPyConnection, dataset_id: str, last_id: int) -> Checksums:
    count, id_sum, xor, total = cur.execute(_UPTO, [dataset_id, last_id]).fetchone()
    return Checksums(int(count), int(id_sum), int(xor), int(total))


def state_checksums(state: ScreenState) -> Checksums:
    prints = state.fingerprints
    xor = int(np.bitwise_xor.reduce(prints)) if len(prints) else 0
    total = int(prints.astype(np.uint32).sum(dtype=np.uint64)) + (int((prints >> 32).sum(dtype=np.int64)) << 32)
    return Checksums(len(prints), state.id_sum, xor, total)


class ScreenFiles:
    """The screens' files in one folder: write, read back and validate, drop a dataset's."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._lock = threading.Lock()  # a dataset's files are dropped and replaced one at a time
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        for leftover in directory.glob(f"*{_TEMP}*"):  # from a crash mid-write: never complete
            leftover.unlink(missing_ok=True)

    def path(self, dataset_id: str, threshold: float) -> Path:
        return self.directory / f"{quote(dataset_id, safe='')}@{threshold!r}{_SUFFIX}"

    def write(self, state: ScreenState, keep: Callable[[], bool] = lambda: True) -> int:
        """Replace the state's file atomically, unless `keep()` says no (the dataset was deleted meanwhile: a
        save in flight must not bring its file back); the file's size in bytes, 0 when not kept."""
        target = self.path(state.dataset_id, state.threshold)
        temp = target.with_name(f"{target.name}{_TEMP}{uuid.uuid4().hex}")
        try:
            table = _table(state)
            with pa.OSFile(str(temp), "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
                writer.write_table(table)
            with open(temp, "rb+") as written:
                os.fsync(written.fileno())
            with self._lock:
                if not keep():
                    return 0
                os.replace(temp, target)
            return target.stat().st_size
        finally:
            temp.unlink(missing_ok=True)

    def read(self, dataset_id: str, threshold: float, params: dict[str, Any]) -> ScreenState | None:
        """The file's state if it reads back whole with this format and these parameters, else None (logged)."""
        path = self.path(dataset_id, threshold)
        if not path.exists():
            return None
        try:
            state = _state(pa.ipc.open_file(pa.memory_map(str(path))).read_all(), dataset_id, threshold, params)
        except Exception as error:  # noqa: BLE001 - any damage at all means "rebuild", never a failed job
            log.warning("screen file %s is not used (%s: %s); rebuilding", path.name, type(error).__name__, error)
            return None
        return state

    def drop(self, dataset_id: str) -> None:
        """Delete a dataset's files (every threshold)."""
        with self._lock:
            for path in self.directory.glob(f"{quote(dataset_id, safe='')}@*{_SUFFIX}"):
                path.unlink(missing_ok=True)


def _list(values: pa.Array) -> pa.Array:
    """One row holding all of `values`: columns of one table may then have any lengths."""
    return pa.LargeListArray.from_arrays(pa.array([0, len(values)], pa.int64()), values)


def _digest(values: pa.Array) -> str:
    """xxh3 of an array's logical content (offsets and bytes for strings), the same written and read back."""
    digest = xxhash.xxh3_64()
    if pa.types.is_large_string(values.type):
        _, offsets, data = values.buffers()
        bounds = np.frombuffer(offsets, np.int64)[values.offset : values.offset + len(values) + 1]
        digest.update((bounds - bounds[0]).tobytes())
        digest.update(memoryview(data)[int(bounds[0]) : int(bounds[-1])] if len(bounds) else b"")
    else:
        digest.update(memoryview(np.ascontiguousarray(values.to_numpy(zero_copy_only=True))).cast("B"))
    return digest.hexdigest()


def _table(state: ScreenState) -> pa.Table:
    columns = {
        "fingerprints": pa.array(state.fingerprints, pa.int64()),
        "texts": pa.array(state.texts, pa.large_string()),
        "codes": pa.array(state.codes, pa.large_string()),
        "cells": pa.array(state.cells.reshape(-1), pa.uint8()),
        "tokens": pa.array(state.tokens, pa.large_string()),
        "entries": pa.array(state.entries, pa.uint64()),
        "directory": pa.array(state.directory.astype(np.int64), pa.int64()),
    }
    meta = {
        "format": FORMAT_VERSION, "dataset_id": state.dataset_id, "threshold": state.threshold,
        "params": state.params, "last_id": state.last_id, "id_sum": state.id_sum, "rows": len(state.texts),
        "overflowed": state.overflowed, "digests": {name: _digest(values) for name, values in columns.items()},
    }  # fmt: skip
    table = pa.table({name: _list(values) for name, values in columns.items()})
    return table.replace_schema_metadata({_KEY: json.dumps(meta).encode()})


def _state(table: pa.Table, dataset_id: str, threshold: float, params: dict[str, Any]) -> ScreenState:
    meta = json.loads(table.schema.metadata[_KEY])
    expected = {"format": FORMAT_VERSION, "dataset_id": dataset_id, "threshold": threshold, "params": params}
    for field, value in expected.items():
        if meta[field] != value:
            raise ValueError(f"{field} is {meta[field]!r}, not {value!r}")
    values = {name: table.column(name).chunk(0).values for name in meta["digests"]}
    for name, digest in meta["digests"].items():
        if _digest(values[name]) != digest:
            raise ValueError(f"column {name} is damaged")
    rows = meta["rows"]
    arrays = {name: values[name].to_numpy(zero_copy_only=True) for name in ("fingerprints", "cells", "entries")}
    texts, codes = values["texts"].to_pylist(), values["codes"].to_pylist()
    if not len(arrays["fingerprints"]) == len(texts) == len(codes) == len(arrays["cells"]) // CELLS == rows:
        raise ValueError("columns of different lengths")
    directory = values["directory"].to_numpy(zero_copy_only=True)
    return ScreenState(dataset_id, threshold, params, int(meta["last_id"]), int(meta["id_sum"]),
                       arrays["fingerprints"], texts, codes, arrays["cells"].reshape(rows, CELLS),
                       values["tokens"].to_pylist(), bool(meta["overflowed"]), arrays["entries"],
                       directory.astype(np.uint32) if len(arrays["entries"]) < 1 << 32 else directory)  # fmt: skip
