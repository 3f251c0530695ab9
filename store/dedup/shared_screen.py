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
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from domain.screening import DuplicateScreen
from store.database import Store
from store.datasets import require_dataset
from store.dedup.near_duplicates import NearDuplicateIndex
from store.dedup.screen_file import ScreenFiles, ScreenState, database_checksums, log, state_checksums

DEFAULT_MAX_SCREENS = 4  # datasets (x thresholds) kept; the least recently used goes first
REFRESH_CHUNK = 5_000  # rows added per hold of the lookup lock (about 0.1 s of work)
# A save rewrites the whole file (3.5 s of CPU and 750 MB per 1M tasks), so a screen is saved once it took in
# a tenth more rows (and at least SAVE_MIN_ROWS): the writing cost per added row stays constant, and what a
# crash loses (the catch-up at the next start) stays under a tenth of a rebuild. The service saves every
# screen when it stops.
SAVE_MIN_ROWS = 10_000
SAVE_FRACTION = 0.1
_SINCE = "SELECT id, instruction, fingerprint FROM tasks WHERE dataset_id = ? AND id > ? ORDER BY id"


class SharedScreen:
    """One dataset's committed instructions at one threshold: their fingerprints and near-duplicate index."""

    def __init__(self, dataset_id: str, threshold: float, **index_params: Any) -> None:
        self.dataset_id, self.threshold = dataset_id, threshold
        self.lock = threading.Lock()  # held for one lookup or one catch-up batch, never for a whole upload
        self._refreshing = threading.Lock()
        self.index = NearDuplicateIndex(threshold, **index_params)
        self.fingerprints: set[int] = set()
        self.last_id = self.id_sum = 0
        self.saved_rows = 0  # rows in the file as last written or read (0: none)
        self.started = False  # the first refresh looks for a file
        self.dropped = False  # the dataset was deleted: never write its file again
        self.files: ScreenFiles | None = None  # where the screen is kept between runs (None: nowhere)
        self.on_grown: Callable[[SharedScreen], object] | None = None  # told when `behind` after a refresh

    def refresh(self, store: Store) -> int:
        """Take in the tasks committed since the last refresh (all of them the first time); how many.

        The database is read outside the lookup lock; adding the new rows holds it a chunk at a time. A view is
        handed out only after a whole refresh; a view already out sees a superset of what it saw before.
        """
        with self._refreshing:
            if not self.started:
                self.started = True
                if self.files is not None:
                    self._load(store, self.files)
            with store.read() as cur:
                require_dataset(cur, self.dataset_id)
                table = cur.sql(_SINCE, params=[self.dataset_id, self.last_id]).to_arrow_table()
            for start in range(0, table.num_rows, REFRESH_CHUNK):
                chunk = table.slice(start, REFRESH_CHUNK)
                with self.lock:  # released between chunks: a lookup (a job's, in the event loop) waits for one
                    self.index.add_many(chunk.column(1).to_pylist())  # bulk: one sorted run of band keys
                    self.fingerprints.update(chunk.column(2).to_pylist())
                    self.last_id = chunk.column(0)[-1].as_py()
                    self.id_sum += sum(chunk.column(0).to_pylist())
            if table.num_rows and self.on_grown is not None and self.behind:
                self.on_grown(self)
            return table.num_rows

    @property
    def behind(self) -> bool:
        """Whether the file lags enough behind to be written again (see SAVE_FRACTION)."""
        rows = len(self.fingerprints)
        return rows - self.saved_rows >= max(SAVE_MIN_ROWS, SAVE_FRACTION * self.saved_rows)

    def snapshot(self) -> ScreenState:
        """The screen as it is now, for a file: taken under the lookup lock (cheap), merged outside it."""
        with self.lock:
            index = self.index.snapshot()
            prints = np.fromiter(self.fingerprints, np.int64, len(self.fingerprints))
            last_id, id_sum = self.last_id, self.id_sum
        entries, directory = self.index.merged_bands(index)
        return ScreenState(self.dataset_id, self.threshold, self.index.params, last_id, id_sum, prints,
                           index.texts, index.codes, index.cells, index.tokens, index.overflowed,
                           entries, directory)  # fmt: skip

    def save(self) -> int:
        """Write the screen's file if it lags at all (blocking: the cache's saver thread calls it); its bytes."""
        if self.files is None or not self.started or len(self.fingerprints) == self.saved_rows:
            return 0
        state = self.snapshot()
        size = self.files.write(state, keep=lambda: not self.dropped)
        self.saved_rows = len(state.texts)
        return size

    def _load(self, store: Store, files: ScreenFiles) -> bool:
        """Start from the dataset's file if the database still holds exactly the tasks it holds."""
        state = files.read(self.dataset_id, self.threshold, self.index.params)
        if state is None:
            return False
        with store.read() as cur:
            require_dataset(cur, self.dataset_id)
            stored = database_checksums(cur, self.dataset_id, state.last_id)
        if stored != state_checksums(state):
            log.warning("screen file of %s holds %d tasks up to id %d, the database %d or others; rebuilding",
                        self.dataset_id, len(state.texts), state.last_id, stored.count)  # fmt: skip
            return False
        index = NearDuplicateIndex(self.threshold, **self.index.params)
        try:
            index.restore(state.texts, state.codes, state.cells, state.tokens, state.overflowed,
                          state.entries, state.directory)  # fmt: skip
        except ValueError as error:  # inconsistent arrays despite their digests: a bug or a forged file
            log.warning("screen file of %s is not used (%s); rebuilding", self.dataset_id, error)
            return False
        with self.lock:
            self.index, self.fingerprints = index, set(state.fingerprints.tolist())
            self.last_id, self.id_sum, self.saved_rows = state.last_id, state.id_sum, len(state.texts)
        return True

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
    """The service's shared screens, by (dataset, threshold), at most `max_screens` of them (LRU).

    With a `directory`, each screen is loaded from its file there when first used (if the file still matches
    the database) and written back by one saver thread, off the event loop and off the lookups: when it grew
    by SAVE_FRACTION, when it leaves the cache, and for all of them at `close`.
    """

    def __init__(self, max_screens: int = DEFAULT_MAX_SCREENS, directory: Path | None = None) -> None:
        self.max_screens = max_screens
        self.files = ScreenFiles(directory) if directory is not None else None
        self._screens: OrderedDict[tuple[str, float], SharedScreen] = OrderedDict()
        self._lock = threading.RLock()  # reentrant: a save that is over at once calls `_saved` in this thread
        self._saver = ThreadPoolExecutor(1, thread_name_prefix="screen-saver") if self.files else None
        self._saving: dict[tuple[str, float], tuple[SharedScreen, Future[None]]] = {}  # queued or running

    def shared(self, dataset_id: str, threshold: float) -> SharedScreen:
        with self._lock:
            key = (dataset_id, threshold)
            screen = self._screens.get(key)
            if screen is None:
                screen = self._screens[key] = SharedScreen(dataset_id, threshold)
                screen.files, screen.on_grown = self.files, self._save_later
                while len(self._screens) > self.max_screens:
                    self._save_later(self._screens.popitem(last=False)[1], locked=True)
            self._screens.move_to_end(key)
            return screen

    def forget(self, dataset_id: str) -> None:
        """Drop a deleted dataset's screens (its memory goes with them) and its files."""
        with self._lock:
            for key in [k for k in self._screens if k[0] == dataset_id]:
                self._screens.pop(key).dropped = True
            for key, (screen, _) in self._saving.items():
                screen.dropped = screen.dropped or key[0] == dataset_id
        if self.files is not None:
            self.files.drop(dataset_id)

    def view(self, store: Store, dataset_id: str, threshold: float) -> tuple[DuplicateScreen, SharedScreen]:
        """A fresh view over the dataset's screen, caught up first (blocking: call from a worker thread)."""
        screen = self.shared(dataset_id, threshold)
        screen.refresh(store)
        return screen.view(), screen

    def close(self) -> None:
        """Write every screen that lags behind its file, then stop the saver (blocking: from a worker thread)."""
        if self._saver is None:
            return
        with self._lock:
            for screen in self._screens.values():
                self._save_later(screen, locked=True, queue_again=True)
        self._saver.shutdown(wait=True)

    def _save_later(self, screen: SharedScreen, *, locked: bool = False, queue_again: bool = False) -> None:
        if self._saver is None:
            return
        if not locked:
            with self._lock:
                return self._save_later(screen, locked=True, queue_again=queue_again)
        key = (screen.dataset_id, screen.threshold)
        queued = self._saving.get(key)
        if queued is None or queued[0] is not screen or queued[1].done() or queue_again:
            future = self._saver.submit(self._save, screen)
            self._saving[key] = (screen, future)
            future.add_done_callback(lambda done: self._saved(key, done))

    def _saved(self, key: tuple[str, float], done: Future[None]) -> None:
        with self._lock:  # an evicted screen's memory goes once its last save is over
            if key in self._saving and self._saving[key][1] is done:
                del self._saving[key]

    def _save(self, screen: SharedScreen) -> None:
        try:
            size = screen.save()
        except Exception:  # noqa: BLE001 - a screen that is not saved is rebuilt at the next start; nothing lost
            log.exception("saving the screen of %s failed", screen.dataset_id)
            return
        if size:
            log.info("saved the screen of %s (%d tasks, %.1f MB)", screen.dataset_id, screen.saved_rows, size / 1e6)
