"""The one object that owns the DuckDB file: connection, migrations, the single writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from store.migrations import apply_migrations


class Store:
    """Owns one DuckDB database file for the life of the process.

    Reads run concurrently, each on its own cursor. Writes are serialised by one lock and run in a
    transaction, so DuckDB's optimistic concurrency never has to abort a writer, and the store can
    hand out task ids from a counter without asking the database.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str) -> None:
        self._connection = connection
        self._write_lock = threading.Lock()
        # DuckDB 2 refuses a second concurrent call on one connection ("connection is busy with another call")
        # rather than waiting, and cursor() is such a call: threads take their cursors one at a time.
        self._connection_lock = threading.Lock()
        self.path = path
        with self.read() as cur:
            self._next_task_id = cur.execute("SELECT coalesce(max(id), 0) + 1 FROM tasks").fetchall()[0][0]

    @classmethod
    def open(cls, path: str | Path, *, threads: int | None = None, memory_limit: str | None = None) -> Store:
        path = str(path)
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        config: dict[str, str | int] = {}
        if threads is not None:
            config["threads"] = threads
        if memory_limit is not None:
            config["memory_limit"] = memory_limit
        connection = duckdb.connect(path, config=config)
        apply_migrations(connection)
        return cls(connection, path)

    def close(self) -> None:
        with self._write_lock, self._connection_lock:
            self._connection.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for the calling thread (DuckDB cursors are not shared across threads)."""
        with self._connection_lock:
            cursor = self._connection.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    @contextmanager
    def write(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """The single writer: one transaction, committed on success, rolled back on any error."""
        with self._write_lock, self.read() as cursor:
            cursor.execute("BEGIN TRANSACTION")
            try:
                yield cursor
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
            cursor.execute("COMMIT")

    def ping(self) -> None:
        """Raise unless the database answers a query (readiness checks)."""
        with self.read() as cur:
            cur.execute("SELECT 1").fetchall()

    def allocate_task_ids(self, count: int) -> int:
        """First of `count` fresh task ids; call inside `write()`. A rolled-back batch leaves a gap."""
        if not self._write_lock.locked():
            raise RuntimeError("allocate_task_ids must be called inside Store.write()")
        first = self._next_task_id
        self._next_task_id += count
        return first
