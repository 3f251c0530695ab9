"""Duplicate screening, the one path every new instruction takes: exact fingerprint, then near-duplicate.

Used by every generation method (self-instruct, code, ...) and by seed uploads. Pure: the caller owns the
state (the fingerprints seen and a near-duplicate index, `store.dedup` builds the index from a dataset).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Literal, Protocol

import msgspec
from rapidfuzz.distance import LCSseq

from domain.fingerprint import fingerprint

# Self-instruct's rule: ROUGE-L F above this against any kept instruction is a near-duplicate. The one
# home of the default: job rules, seed uploads, snapshots and the index all take it from here.
NEAR_DUPLICATE_THRESHOLD = 0.7


_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer: lower-case, ASCII letters and digits only."""
    return _ROUGE_TOKEN.findall(text.lower())


def rouge_l_f(candidate: Sequence[str], reference: Sequence[str]) -> float:
    """ROUGE-L F-measure of two token lists, as `rouge_score` computes it (the LCS from rapidfuzz)."""
    if not candidate or not reference:
        return 0.0
    lcs = LCSseq.similarity(candidate, reference)
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


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
