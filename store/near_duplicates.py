"""Near-duplicates by the self-instruct rule: ROUGE-L F-measure against every kept instruction.

Same tokenisation and the same formula as Google's `rouge_score` (no stemming), so decisions agree with
the reference at the threshold; the longest common subsequence comes from rapidfuzz (C++). This first
version compares against every kept instruction, skipping those whose length alone rules them out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from rapidfuzz.distance import LCSseq

_TOKEN = re.compile(r"[a-z0-9]+")


def rouge_tokens(text: str) -> list[str]:
    """rouge_score's default tokenizer: lower-case, ASCII letters and digits only."""
    return _TOKEN.findall(text.lower())


def rouge_l_f(candidate: list[str], reference: list[str]) -> float:
    if not candidate or not reference:
        return 0.0
    lcs = LCSseq.similarity(candidate, reference)
    precision, recall = lcs / len(candidate), lcs / len(reference)
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


class NearDuplicateIndex:
    """Kept instructions, greedy in arrival order: a candidate is a near-duplicate above `threshold`."""

    def __init__(self, threshold: float = 0.7, texts: Iterable[str] = ()) -> None:
        self.threshold = threshold
        self._kept: list[tuple[list[str], str]] = []
        for text in texts:
            self.add(text)

    def __len__(self) -> int:
        return len(self._kept)

    def add(self, text: str) -> None:
        self._kept.append((rouge_tokens(text), text))

    def best_match(self, text: str) -> tuple[float, str | None]:
        """The highest ROUGE-L F against any kept instruction, and that instruction."""
        tokens, best, match = rouge_tokens(text), 0.0, None
        for kept_tokens, kept_text in self._kept:
            # F <= 2*min/(a+b): skip what cannot beat the best so far
            if 2 * min(len(tokens), len(kept_tokens)) / max(len(tokens) + len(kept_tokens), 1) <= best:
                continue
            score = rouge_l_f(tokens, kept_tokens)
            if score > best:
                best, match = score, kept_text
        return best, match

    def is_near_duplicate(self, text: str) -> tuple[bool, float, str | None]:
        score, match = self.best_match(text)
        return score > self.threshold, score, match
