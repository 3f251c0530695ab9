"""Datasets: create, read, list, delete. All their SQL lives here."""

from __future__ import annotations

import secrets
import time

import duckdb

from domain.errors import ConflictError, NotFoundError
from domain.names import check_name
from store.database import Store
from store.records import Dataset, DatasetPage

_SELECT_DATASETS = """
    SELECT d.id, d.name, d.description, d.created_at,
           (SELECT count(*) FROM tasks t WHERE t.dataset_id = d.id) AS tasks,
           (SELECT count(*) FROM instances i WHERE i.dataset_id = d.id) AS instances
    FROM datasets d
"""
_OWNED_TABLES = ("instances", "code_checks", "conversations", "annotations", "tasks", "rejections", "jobs", "imports")


def new_dataset_id() -> str:
    """Time-ordered ids (`ds_` + milliseconds + randomness) so listing by id lists by creation."""
    return f"ds_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(4)}"


def _row_to_dataset(row: tuple) -> Dataset:
    return Dataset(id=row[0], name=row[1], description=row[2], created_at=row[3], tasks=row[4], instances=row[5])


def create_dataset(store: Store, *, name: str, description: str = "") -> Dataset:
    check_name(name, "dataset name")
    dataset_id = new_dataset_id()
    with store.write() as cur:
        if cur.execute("SELECT 1 FROM datasets WHERE name = ?", [name]).fetchall():
            raise ConflictError(f"a dataset named {name!r} already exists", code="dataset_exists")
        cur.execute("INSERT INTO datasets (id, name, description) VALUES (?, ?, ?)", [dataset_id, name, description])
    return get_dataset(store, dataset_id)


def require_dataset(cur: duckdb.DuckDBPyConnection, dataset_id: str) -> None:
    if not cur.execute("SELECT 1 FROM datasets WHERE id = ?", [dataset_id]).fetchall():
        raise NotFoundError(f"no dataset with id {dataset_id!r}", code="dataset_not_found")


def ensure_dataset(store: Store, dataset_id: str) -> None:
    """NotFoundError unless the dataset exists (cheap: no counts)."""
    with store.read() as cur:
        require_dataset(cur, dataset_id)


def get_dataset(store: Store, dataset_id: str) -> Dataset:
    with store.read() as cur:
        rows = cur.execute(_SELECT_DATASETS + " WHERE d.id = ?", [dataset_id]).fetchall()
    if not rows:
        raise NotFoundError(f"no dataset with id {dataset_id!r}", code="dataset_not_found")
    return _row_to_dataset(rows[0])


def find_dataset_id(store: Store, name: str) -> str | None:
    with store.read() as cur:
        rows = cur.execute("SELECT id FROM datasets WHERE name = ?", [name]).fetchall()
    return rows[0][0] if rows else None


def list_datasets(store: Store, *, after: str | None, limit: int) -> DatasetPage:
    with store.read() as cur:
        rows = cur.execute(
            _SELECT_DATASETS + " WHERE d.id > ? ORDER BY d.id LIMIT ?", [after or "", limit + 1]
        ).fetchall()
    items = tuple(_row_to_dataset(row) for row in rows[:limit])
    return DatasetPage(items=items, next_after=items[-1].id if len(rows) > limit else None)


def delete_dataset(store: Store, dataset_id: str) -> None:
    """Remove the dataset and everything it owns, in one transaction."""
    with store.write() as cur:
        require_dataset(cur, dataset_id)
        for table in _OWNED_TABLES:
            cur.execute(f"DELETE FROM {table} WHERE dataset_id = ?", [dataset_id])
        cur.execute("DELETE FROM datasets WHERE id = ?", [dataset_id])


def dataset_size(store: Store, dataset_id: str) -> int:
    """How many tasks a dataset holds."""
    with store.read() as cur:
        return cur.execute("SELECT count(*) FROM tasks WHERE dataset_id = ?", [dataset_id]).fetchall()[0][0]
