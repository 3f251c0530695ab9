"""The one object that owns the DuckDB file: connection, migrations, the single writer."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from store.migrations import apply_migrations

# How long close() waits for reads in flight (a poll of a background task) before closing regardless.
CLOSE_WAIT_S = 30.0


class Store:
    """Owns one DuckDB database file for the life of the process.

    Reads run concurrently, each on its own cursor. Writes are serialised by one lock and run in a
    transaction, so DuckDB's optimistic concurrency never has to abort a writer, and the store can
    hand out task ids from a counter without asking the database.
    """

    def __init__(self, connection: duckdb.DuckDBPyConnection, path: str) -> None:
        self._connection = connection
        self._write_lock = threading.Lock()
        # DuckDB 2 refuses a concurrent call on one connection ("connection is busy with another call") rather
        # than waiting: cursor() is such a call, and close() is refused while any cursor of it is in use (seen in
        # CI: a lifespan closing the store while a background poll still read). Cursors are taken one at a time
        # and counted; close() waits for the count to reach zero.
        self._connection_lock = threading.Condition()
        self._open_cursors, self._closing = 0, False
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
            self._closing = True  # no new cursor from here: a poll that comes now fails as after the close
            self._connection_lock.wait_for(lambda: self._open_cursors == 0, timeout=CLOSE_WAIT_S)
            self._connection.close()

    @contextmanager
    def read(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A cursor of its own for the calling thread (DuckDB cursors are not shared across threads)."""
        with self._connection_lock:
            if self._closing:
                raise duckdb.ConnectionException("Connection Error: the store is closed")
            cursor = self._connection.cursor()
            self._open_cursors += 1
        try:
            yield cursor
        finally:
            with self._connection_lock:
                cursor.close()
                self._open_cursors -= 1
                self._connection_lock.notify_all()

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
