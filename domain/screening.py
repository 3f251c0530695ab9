"""Duplicate screening, the one path every new instruction takes: exact fingerprint, then near-duplicate.

Used by every generation method (self-instruct, code, ...) and by seed uploads. Pure: the caller owns the
state (the fingerprints seen and a near-duplicate index, `store.dedup` builds the index from a dataset).
"""

from __future__ import annotations

from typing import Literal, Protocol

import msgspec

from domain.fingerprint import fingerprint

# Self-instruct's rule: ROUGE-L F above this against any kept instruction is a near-duplicate. The one
# home of the default: job rules, seed uploads, snapshots and the index all take it from here.
NEAR_DUPLICATE_THRESHOLD = 0.7


class DuplicateIndex(Protocol):
    """What screening needs of a near-duplicate index (`store.dedup.NearDuplicateIndex`, `TieredIndex`)."""

    def is_near_duplicate(self, text: str) -> tuple[bool, float, str | None]: ...

    def add(self, text: str) -> None: ...


class Duplicate(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["exact", "near"]
    score: float  # 1.0 for an exact duplicate; the similarity for a near one
    match: str | None  # the kept text it duplicates (None for exact duplicates)

    @property
    def reason(self) -> str:
        return f"{self.kind}_duplicate"

    def detail(self) -> dict[str, object]:
        return {} if self.kind == "exact" else {"rouge_l": round(self.score, 4), "match": self.match}


class DuplicateScreen:
    """The dedup state of one job or upload: fingerprints already kept and the near-duplicate index."""

    def __init__(self, fingerprints: set[int], index: DuplicateIndex) -> None:
        self.fingerprints, self.index = fingerprints, index

    def check(self, text: str) -> Duplicate | None:
        """Exact first (cheap), then near; changes nothing."""
        if fingerprint(text) in self.fingerprints:
            return Duplicate(kind="exact", score=1.0, match=None)
        near, score, match = self.index.is_near_duplicate(text)
        return Duplicate(kind="near", score=score, match=match) if near else None

    def remember(self, text: str) -> None:
        """`text` is kept: later texts are screened against it too."""
        self.fingerprints.add(fingerprint(text))
        self.index.add(text)

    def admit(self, text: str) -> Duplicate | None:
        """Screen `text` and remember it when it is new (greedy in arrival order, the paper's rule)."""
        duplicate = self.check(text)
        if duplicate is None:
            self.remember(text)
        return duplicate
