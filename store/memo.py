"""A small thread-safe cache for figures that cost a scan or a model fit, keyed by what they are a function of.

Exactness is the caller's part: the key must change whenever the cached value would. Tasks are append-only
with ids from the store's growing counter (no statement updates an instruction or a category; a dataset is
deleted whole and its id never comes back), so a dataset's tasks (or a subset picked by source) are named
exactly by (dataset id, count, max id), read in the same transaction as anything computed from them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class Memo(Generic[V]):
    """The last `size` values by key, least recently used dropped first."""

    def __init__(self, size: int = 16) -> None:
        self._size, self._values, self._lock = size, OrderedDict[Hashable, V](), threading.Lock()

    def get(self, key: Hashable, compute: Callable[[], V]) -> V:
        """The cached value for `key`, else `compute()` stored (two threads missing at once both compute)."""
        with self._lock:
            if key in self._values:
                self._values.move_to_end(key)
                return self._values[key]
        value = compute()
        with self._lock:
            self._values[key] = value
            while len(self._values) > self._size:
                self._values.popitem(last=False)
        return value

    def clear(self) -> None:
        with self._lock:
            self._values.clear()
