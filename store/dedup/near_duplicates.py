"""Near-duplicates by the self-instruct rule: ROUGE-L F-measure above a threshold against any kept instruction.

Same tokenisation and the same formula as Google's `rouge_score` (no stemming), so decisions agree with
the reference at the threshold, rounding included; the longest common subsequence comes from rapidfuzz.

A lookup has four steps:
1. Identical token sequences (F = 1) are found in a dict.
2. Candidates: every kept instruction while there are at most `exact_below` of them, otherwise those
   sharing at least `min_band_hits` MinHash LSH bands with the query (`store.dedup.lsh`).
3. A candidate goes on only if the tokens it may share with the query (a bound from 64 hash cells of
   token counts, `store.dedup.instruction_codes`) can reach the threshold: LCS <= shared, F <= 2*shared/(m+n).
4. The rest are scored exactly, all at once in C++ (a token is one character of a code string).

Why the LSH finds what it must: with LCS length L between sequences of m and n tokens, F = 2L/(m+n) > t
means L > t(m+n)/2, and the L common tokens are common occurrences, so the Jaccard similarity of the
*multisets* of tokens is at least L/(m+n-L) > t/(2-t) (7/13 = 0.538 at t = 0.7). The shingles are thus
tokens numbered by occurrence ("the", "the#2", ...), not a plain set (repeated words would lower the
bound) nor bigrams (no such bound: one adjacent swap breaks two of them). A pair collides in a band of
r rows with probability J**r; with the defaults (64 bands of 4 rows, 2 hits needed) a pair at
J = 0.538 is a candidate with probability 0.976, at 0.6 with 0.996, while a pair at J = 0.3 is one
with probability 0.09 (bench/dedup_bench.py measures the recall and the cost). A match the LSH misses
is a false "new"; a reported duplicate is always a true one. For an instruction that is not a
duplicate, the score returned is a lower bound of the true best (often 0.0: nothing could reach it).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, NamedTuple

import numpy as np
from rapidfuzz import process
from rapidfuzz.distance import LCSseq

from domain.screening import NEAR_DUPLICATE_THRESHOLD, rouge_l_f, rouge_tokens
from store.dedup.instruction_codes import (
    CELLS,
    OVERFLOW,
    ShingleHashes,
    Vocabulary,
    cell_counts,
    cell_counts_of,
    code_points,
    shared_token_bound,
    shingle_keys,
    shingle_keys_many,
)
from store.dedup.lsh import BandIndex, MinHasher

_SLACK = 1e-9  # bounds are compared in floating point: never prune on a rounding tie
_BATCH = 50_000


class IndexSnapshot(NamedTuple):
    """An index's content at one moment (`NearDuplicateIndex.snapshot`), for a file."""

    texts: list[str]
    codes: list[str]
    cells: np.ndarray
    tokens: list[str]
    overflowed: bool
    runs: list  # the band index's runs (store.dedup.lsh._Run)
    recent_keys: list[np.ndarray]
    recent_ids: list[int]


class _Query:
    __slots__ = ("code", "keys", "cells")

    def __init__(self, code: str, keys: np.ndarray | None, cells: np.ndarray | None) -> None:
        self.code, self.keys, self.cells = code, keys, cells


class NearDuplicateIndex:
    """Kept instructions, greedy in arrival order: a candidate is a near-duplicate above `threshold`.

    `num_perm` MinHash permutations are cut into `bands` bands of `num_perm // bands` rows; a kept
    instruction is a candidate when it shares at least `min_band_hits` bands with the query. Shingles
    are word `shingle_size`-grams (1 or 2). Up to `exact_below` kept instructions, every one is a
    candidate, so decisions are exact. `texts` are kept unconditionally, in order (a rebuilt pool).
    """

    def __init__(
        self,
        threshold: float = NEAR_DUPLICATE_THRESHOLD,
        texts: Iterable[str] = (),
        *,
        num_perm: int = 256,
        bands: int = 64,
        min_band_hits: int = 2,
        shingle_size: Literal[1, 2] = 1,
        exact_below: int = 500,
        seed: int = 1,
    ) -> None:
        if num_perm % bands:
            raise ValueError("num_perm must be a multiple of bands")
        if shingle_size not in (1, 2):
            raise ValueError("shingle_size must be 1 or 2")
        if not 1 <= min_band_hits <= bands:
            raise ValueError("min_band_hits must be between 1 and bands")
        self.threshold, self.shingle_size, self.exact_below = threshold, shingle_size, exact_below
        self.min_band_hits = min_band_hits
        self.params = {"num_perm": num_perm, "bands": bands, "min_band_hits": min_band_hits,
                       "shingle_size": shingle_size, "exact_below": exact_below, "seed": seed}  # fmt: skip
        self._hasher = MinHasher(num_perm, seed)
        self._bands = BandIndex(bands, num_perm // bands, seed)
        self._vocabulary = Vocabulary()
        self._hashes = ShingleHashes(self._hasher, self._vocabulary, shingle_size)
        self._texts: list[str] = []
        self._codes: list[str] = []
        self._lengths = np.empty(0, np.int32)
        self._cells = np.empty((0, CELLS), np.uint8)
        self._identical: dict[str, int] = {}
        self._last: tuple[str, _Query] | None = None
        self.add_many(texts)

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def nbytes(self) -> int:
        """Bytes of the numpy arrays (band runs, lengths, cells); the Python strings and dicts come on top."""
        return self._bands.nbytes + self._lengths[: len(self)].nbytes + self._cells[: len(self)].nbytes

    def add(self, text: str) -> None:
        query = self._prepare(text)
        doc_id = len(self)
        cells = query.cells if query.cells is not None else np.zeros((1, CELLS), np.uint8)
        self._append([text], [query.code], cells)
        if query.keys is not None:
            self._bands.add(query.keys, doc_id)

    def add_many(self, texts: Iterable[str]) -> None:
        """Keep many instructions at once: signatures computed in bulk, band keys inserted as one sorted run."""
        keys, ids, batch = [], [], []
        for text in texts:
            batch.append(text)
            if len(batch) == _BATCH:
                self._add_batch(batch, keys, ids)
                batch = []
        self._add_batch(batch, keys, ids)
        if ids:
            self._bands.add_many(np.concatenate(keys), np.concatenate(ids))

    def snapshot(self) -> IndexSnapshot:
        """What restores this index exactly, cheaply taken (list copies, array references): call it where no
        `add` runs. Arrays are never written in place below `len(self)`, so the references stay valid."""
        n = len(self)
        runs, recent_keys, recent_ids = self._bands.snapshot()
        tokens = list(self._vocabulary.tokens)  # lookups add tokens too
        return IndexSnapshot(self._texts[:n], self._codes[:n], self._cells[:n], tokens,
                             self._vocabulary.overflowed, runs, recent_keys, recent_ids)  # fmt: skip

    def merged_bands(self, snapshot: IndexSnapshot) -> tuple[np.ndarray, np.ndarray]:
        """A snapshot's band runs as one sorted run and its directory (slow at scale: outside any lock)."""
        run = self._bands.merged(snapshot.runs, snapshot.recent_keys, snapshot.recent_ids)
        return run.entries, run.directory

    def restore(self, texts: list[str], codes: list[str], cells: np.ndarray, tokens: list[str], overflowed: bool,
                entries: np.ndarray, directory: np.ndarray) -> None:  # fmt: skip
        """Become the index a snapshot was taken of (this one must be empty and built with the same params).
        `entries`/`directory` are the band runs merged into one (`BandIndex.merged`): lookups are the same."""
        if len(self):
            raise ValueError("restore into an empty index only")
        self._vocabulary.restore(tokens, overflowed)
        self._append(texts, codes, cells)
        self._bands.restore(entries, directory)

    def best_match(self, text: str) -> tuple[float, str | None]:
        """The highest ROUGE-L F against the candidates, and that instruction (the earliest among ties).

        At or above the threshold the score is exact. Below it, it is a lower bound, often (0.0, None):
        instructions that cannot reach the threshold are not scored.
        """
        query = self._prepare(text)
        if query.keys is None:
            return 0.0, None
        identical = self._identical.get(query.code)
        if identical is not None:
            return 1.0, self._texts[identical]
        return self._score(query, self._bounded(query, self._candidates(query)), text)

    def is_near_duplicate(self, text: str) -> tuple[bool, float, str | None]:
        score, match = self.best_match(text)
        return score > self.threshold, score, match

    def candidates(self, text: str) -> np.ndarray:
        """Positions (in arrival order) of the kept instructions that a lookup of `text` scores exactly."""
        query = self._prepare(text)
        if query.keys is None:
            return np.empty(0, np.int64)
        return self._bounded(query, self._candidates(query))

    def _prepare(self, text: str) -> _Query:
        """Code string, band keys and cell counts, remembered for the `add` that usually follows a lookup."""
        if self._last is not None and self._last[0] == text:
            return self._last[1]
        code = self._vocabulary.encode(rouge_tokens(text))
        query = _Query(code, None, None)
        if code:
            signature = self._hasher.signature(self._hashes.of(shingle_keys(code, self.shingle_size)))
            query.keys = self._bands.keys(signature[None, :])[0]
            query.cells = cell_counts_of(code)
        self._last = (text, query)
        return query

    def _add_batch(self, texts: list[str], keys: list[np.ndarray], ids: list[np.ndarray]) -> None:
        first = len(self)
        codes = [self._vocabulary.encode(rouge_tokens(text)) for text in texts]
        points, lengths = code_points(codes)
        self._append(texts, codes, cell_counts(points, lengths))
        present = np.flatnonzero(lengths)
        if len(present):  # empty code strings add no points: `points` is already the present ones'
            shingles, counts = shingle_keys_many(points, lengths[present], self.shingle_size)
            keys.append(self._bands.keys(self._hasher.signatures(self._hashes.of(shingles.tolist()), counts)))
            ids.append(present + first)

    def _append(self, texts: list[str], codes: list[str], cells: np.ndarray) -> None:
        first, end = len(self), len(self) + len(texts)
        if end > len(self._lengths):  # grow by doubling: amortised O(1) per instruction
            capacity = max(1024, 2 * len(self._lengths), end)
            self._lengths = np.resize(self._lengths, capacity)
            self._cells = np.resize(self._cells, (capacity, CELLS))
        self._lengths[first:end] = np.fromiter(map(len, codes), np.int32, len(codes))
        self._cells[first:end] = cells
        self._texts.extend(texts)
        self._codes.extend(codes)
        if not self._identical and not self._vocabulary.overflowed:  # a first batch or a restore: in C
            last_first = range(end - 1, first - 1, -1)
            self._identical = dict(zip(reversed(codes), last_first, strict=True))  # the first of equals wins
            self._identical.pop("", None)
            return
        for doc_id, code in enumerate(codes, first):
            if code and OVERFLOW not in code:
                self._identical.setdefault(code, doc_id)

    def _candidates(self, query: _Query) -> np.ndarray:
        if len(self) <= self.exact_below:
            return np.arange(len(self))
        return self._bands.query(query.keys, self.min_band_hits)

    def _bounded(self, query: _Query, candidates: np.ndarray) -> np.ndarray:
        """Drop the candidates that cannot reach the threshold: F <= 2*shared/(m+n), shared <= min(m, n)."""
        m, n = len(query.code), self._lengths[candidates]
        shared = shared_token_bound(self._cells, candidates, query.cells[0])
        if shared is None:
            shared = np.minimum(n, m)
        return np.compress(2 * shared > (self.threshold - _SLACK) * (n + m), candidates)

    def _score(self, query: _Query, candidates: np.ndarray, text: str) -> tuple[float, str | None]:
        if not len(candidates):
            return 0.0, None
        choices = [self._codes[i] for i in candidates.tolist()]
        lcs = process.cdist([query.code], choices, scorer=LCSseq.similarity, dtype=np.int32, workers=1)[0]
        precision, recall = lcs / len(query.code), lcs / self._lengths[candidates]
        with np.errstate(invalid="ignore"):  # rouge_score's formula, so its rounding too
            scores = np.where(lcs > 0, 2 * precision * recall / (precision + recall), 0.0)
        if self._vocabulary.overflowed:
            self._rescore_overflowed(text, query.code, candidates, choices, scores)
        best = int(np.argmax(scores))
        if scores[best] <= 0.0:
            return 0.0, None
        return float(scores[best]), self._texts[int(candidates[best])]

    def _rescore_overflowed(
        self, text: str, code: str, candidates: np.ndarray, choices: list[str], scores: np.ndarray
    ) -> None:
        """Past the vocabulary's last character, sequences that hold it are scored from their tokens."""
        tokens = rouge_tokens(text)
        for position, (doc_id, choice) in enumerate(zip(candidates.tolist(), choices, strict=True)):
            if OVERFLOW in code or OVERFLOW in choice:
                scores[position] = rouge_l_f(tokens, rouge_tokens(self._texts[doc_id]))
