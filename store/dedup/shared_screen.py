"""Duplicate screens kept for the life of the service: one per dataset (and threshold), loaded once.

Why: building a dataset's near-duplicate index costs about 2 s per 100k tasks; a seed upload that built
one each time took 583 ms for 6 tasks against 10k, and 50 concurrent uploads queued 16 s behind each
other's builds. Here the index is built once, then caught up with what was committed since: `refresh`
reads only the rows with an id above the last one it saw. The database stays the one source of truth, so
whoever committed a task (an upload, a job, the packaged code seeds) is seen by everyone after a refresh,
and nothing uncommitted ever enters a shared screen: a rejected candidate or a failed upload cannot.

Each user screens through a `view`: the shared, committed part (read under the screen's lock, one lookup at
a time, so a long upload never holds it for long) plus a private overlay of its own not-yet-committed
texts (an upload's earlier seeds, a job's admitted candidates). Task ids grow in commit order (one writer
hands them out inside its transaction), so "rows above the last id seen" is exactly "committed since".
Reads of the API never touch a screen.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from domain.screening import DuplicateScreen
from store.database import Store
from store.datasets import require_dataset
from store.dedup.near_duplicates import NearDuplicateIndex

DEFAULT_MAX_SCREENS = 4  # datasets (x thresholds) kept; the least recently used goes first
REFRESH_CHUNK = 5_000  # rows added per hold of the lookup lock (about 0.1 s of work)
_SINCE = "SELECT id, instruction, fingerprint FROM tasks WHERE dataset_id = ? AND id > ? ORDER BY id"


class SharedScreen:
    """One dataset's committed instructions at one threshold: their fingerprints and near-duplicate index."""

    def __init__(self, dataset_id: str, threshold: float, **index_params: Any) -> None:
        self.dataset_id, self.threshold = dataset_id, threshold
        self.lock = threading.Lock()  # held for one lookup or one catch-up batch, never for a whole upload
        self._refreshing = threading.Lock()
        self.index = NearDuplicateIndex(threshold, **index_params)
        self.fingerprints: set[int] = set()
        self.last_id = 0

    def refresh(self, store: Store) -> int:
        """Take in the tasks committed since the last refresh (all of them the first time); how many.

        The database is read outside the lookup lock; adding the new rows holds it a chunk at a time. A view is
        handed out only after a whole refresh; a view already out sees a superset of what it saw before.
        """
        with self._refreshing:
            with store.read() as cur:
                require_dataset(cur, self.dataset_id)
                table = cur.sql(_SINCE, params=[self.dataset_id, self.last_id]).to_arrow_table()
            for start in range(0, table.num_rows, REFRESH_CHUNK):
                chunk = table.slice(start, REFRESH_CHUNK)
                with self.lock:  # released between chunks: a lookup (a job's, in the event loop) waits for one
                    self.index.add_many(chunk.column(1).to_pylist())  # bulk: one sorted run of band keys
                    self.fingerprints.update(chunk.column(2).to_pylist())
                    self.last_id = chunk.column(0)[-1].as_py()
            return table.num_rows

    def view(self) -> DuplicateScreen:
        """A screen over the committed tasks plus a private overlay for what its user adds itself."""
        overlay = NearDuplicateIndex(self.threshold)
        return DuplicateScreen(_LayeredFingerprints(self, set()), _LayeredIndex(self, overlay))


class _LayeredFingerprints:
    """`in` looks at the shared fingerprints (under the lock) and the overlay's; `add` goes to the overlay."""

    def __init__(self, shared: SharedScreen, own: set[int]) -> None:
        self.shared, self.own = shared, own

    def __contains__(self, value: object) -> bool:
        if value in self.own:
            return True
        with self.shared.lock:
            return value in self.shared.fingerprints

    def add(self, value: int) -> None:
        self.own.add(value)


class _LayeredIndex:
    """The best match over the shared index (under the lock) and the overlay; `add` goes to the overlay."""

    def __init__(self, shared: SharedScreen, overlay: NearDuplicateIndex) -> None:
        self.shared, self.overlay = shared, overlay

    def is_near_duplicate(self, text: str) -> tuple[bool, float, str | None]:
        with self.shared.lock:
            near, score, match = self.shared.index.is_near_duplicate(text)
        if near:
            return near, score, match
        own_near, own_score, own_match = self.overlay.is_near_duplicate(text)
        if own_near or own_score > score:
            return own_near, own_score, own_match
        return near, score, match

    def add(self, text: str) -> None:
        self.overlay.add(text)


class ScreenCache:
    """The service's shared screens, by (dataset, threshold), at most `max_screens` of them (LRU)."""

    def __init__(self, max_screens: int = DEFAULT_MAX_SCREENS) -> None:
        self.max_screens = max_screens
        self._screens: OrderedDict[tuple[str, float], SharedScreen] = OrderedDict()
        self._lock = threading.Lock()

    def shared(self, dataset_id: str, threshold: float) -> SharedScreen:
        with self._lock:
            key = (dataset_id, threshold)
            screen = self._screens.get(key)
            if screen is None:
                screen = self._screens[key] = SharedScreen(dataset_id, threshold)
                while len(self._screens) > self.max_screens:
                    self._screens.popitem(last=False)
            self._screens.move_to_end(key)
            return screen

    def forget(self, dataset_id: str) -> None:
        """Drop a deleted dataset's screens (its memory goes with them)."""
        with self._lock:
            for key in [k for k in self._screens if k[0] == dataset_id]:
                del self._screens[key]

    def view(self, store: Store, dataset_id: str, threshold: float) -> tuple[DuplicateScreen, SharedScreen]:
        """A fresh view over the dataset's screen, caught up first (blocking: call from a worker thread)."""
        screen = self.shared(dataset_id, threshold)
        screen.refresh(store)
        return screen.view(), screen
