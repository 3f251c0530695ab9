"""Instructions as code strings, one character per ROUGE token, and what near-duplicate search derives from them.

- `Vocabulary` gives every distinct token its own character, so rapidfuzz computes the LCS of two token
  sequences as that of two short strings (bit-parallel, in C++).
- `shingle_keys` / `shingle_keys_many`: the MinHash input, word n-grams numbered by occurrence, as ints.
- `cell_counts`: per instruction, how many of its tokens fall in each of `CELLS` hash cells. For two
  instructions, the sum over cells of the smaller count bounds the number of tokens they share (with
  multiplicity), hence their LCS: a cheap, exact filter before the LCS itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from store.dedup.lsh import MinHasher

# Token ids become code points, skipping the surrogates; past the last one every further token gets
# OVERFLOW (only beyond ~1.1M distinct tokens), and sequences holding it must be scored from their text.
MAX_CODES = 0x10FFFF - 0x800
OVERFLOW = chr(0x10FFFF)
CELLS = 64
MAX_CELL_COUNT = 255  # cell counts are uint8: a count at the cap means "at least"
# A shingle key is gram << 8 | occurrence (capped at 255); a bigram gram is cp1 << 21 | cp2, and a
# one-token instruction's only "bigram" has SOLO as its second half.
_OCCURRENCE_BITS, _MAX_OCCURRENCE = 8, 255
SOLO = 0x1FFFFF
_CELL_SHIFT = np.uint32(32 - (CELLS - 1).bit_length())


class Vocabulary(dict[str, str]):
    """Token -> one character, allocated on first sight; `token` maps a code point back."""

    def __init__(self) -> None:
        super().__init__()
        self.tokens: list[str] = []
        self.overflowed = False

    def __missing__(self, token: str) -> str:
        n = len(self.tokens)
        if n >= MAX_CODES:
            self.overflowed = True
            return OVERFLOW
        self.tokens.append(token)
        char = self[token] = chr(n if n < 0xD800 else n + 0x800)
        return char

    def encode(self, tokens: list[str]) -> str:
        return "".join(map(self.__getitem__, tokens))

    def restore(self, tokens: list[str], overflowed: bool) -> None:
        """Take back a vocabulary's tokens in their order (each keeps its character); this one must be empty."""
        if self.tokens or len(set(tokens)) != len(tokens) or len(tokens) > MAX_CODES:
            raise ValueError("restore distinct tokens into an empty vocabulary only")
        points = np.arange(len(tokens), dtype=np.uint32)
        points[points >= 0xD800] += 0x800
        self.update(zip(tokens, points.tobytes().decode("utf-32-le"), strict=True))
        self.tokens.extend(tokens)
        self.overflowed = overflowed

    def token(self, point: int) -> str:
        if point == ord(OVERFLOW):
            return "\x00"  # no real token: all overflowed tokens are one shingle
        return self.tokens[point if point < 0xD800 else point - 0x800]


def code_points(codes: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The code points of many code strings back to back (int64), and each string's length."""
    lengths = np.fromiter(map(len, codes), np.int64, len(codes))
    return np.frombuffer("".join(codes).encode("utf-32-le"), np.uint32).astype(np.int64), lengths


def shingle_keys(code: str, size: int = 1) -> list[int]:
    """One code string's shingles: its word `size`-grams numbered by occurrence, as integer keys, so
    that the set of shingles is the multiset of grams."""
    points = list(map(ord, code))
    grams = points if size == 1 else [a << 21 | b for a, b in zip(points, points[1:], strict=False)]
    if size == 2 and len(points) == 1:
        grams = [points[0] << 21 | SOLO]
    if len(set(grams)) == len(grams):
        return [gram << _OCCURRENCE_BITS | 1 for gram in grams]
    seen: dict[int, int] = {}
    keys = []
    for gram in grams:
        count = seen[gram] = seen.get(gram, 0) + 1
        keys.append(gram << _OCCURRENCE_BITS | min(count, _MAX_OCCURRENCE))
    return keys


def shingle_keys_many(points: np.ndarray, lengths: np.ndarray, size: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """`shingle_keys` of many non-empty code strings (`code_points`), vectorised: the keys back to back,
    and how many each string has (fewer than 2**21 strings)."""
    doc = np.repeat(np.arange(len(lengths)), lengths)
    if size == 2:
        last = np.cumsum(lengths) - 1
        following = np.empty_like(points)
        following[:-1] = points[1:]
        following[last] = SOLO
        keep = np.ones(len(points), bool)
        keep[last[lengths > 1]] = False
        grams, doc, counts = (points << 21 | following)[keep], doc[keep], np.maximum(lengths - 1, 1)
    else:
        grams, counts = points, lengths
    # Which occurrence of a gram gets which number does not change the set: any sort will do.
    combined = doc << 42 | grams
    order = np.argsort(combined)
    ranked = combined[order]
    index = np.arange(len(ranked))
    group_start = np.maximum.accumulate(np.where(np.r_[True, ranked[1:] != ranked[:-1]], index, 0))
    occurrence = np.empty_like(index)
    occurrence[order] = np.minimum(index - group_start + 1, _MAX_OCCURRENCE)
    return grams << _OCCURRENCE_BITS | occurrence, counts


def cell_counts(points: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(strings, CELLS) uint8: how many tokens of each string hash to each cell, capped at MAX_CELL_COUNT."""
    cells = (points.astype(np.uint32) * np.uint32(0x9E3779B1)) >> _CELL_SHIFT  # Fibonacci hashing
    doc = np.repeat(np.arange(len(lengths)), lengths)
    counts = np.bincount(doc * CELLS + cells, minlength=len(lengths) * CELLS).reshape(len(lengths), CELLS)
    return np.minimum(counts, MAX_CELL_COUNT).astype(np.uint8)


def cell_counts_of(code: str) -> np.ndarray:
    """`cell_counts` of one code string, (1, CELLS): cheaper in Python than through arrays."""
    shift = int(_CELL_SHIFT)
    cells = [(ord(char) * 0x9E3779B1 & 0xFFFFFFFF) >> shift for char in code]
    return np.minimum(np.bincount(cells, minlength=CELLS), MAX_CELL_COUNT).astype(np.uint8)[None, :]


def shared_token_bound(cells: np.ndarray, rows: np.ndarray, query: np.ndarray) -> np.ndarray | None:
    """Upper bounds of the tokens each of `cells[rows]` shares with the query's cell counts (multiset
    intersection, so LCS too): per cell the smaller count. None when a query cell is at the cap (capped
    counts could then understate the bound)."""
    if query.max(initial=0) >= MAX_CELL_COUNT:
        return None
    used = np.flatnonzero(query)  # ~one cell per query token: the other cells add nothing
    return np.minimum(np.take(cells, rows, axis=0)[:, used], query[used]).sum(axis=1, dtype=np.int64)


class ShingleHashes(dict[int, int]):
    """Shingle key -> its premixed MinHash input hash, from the shingle's text, computed on first sight.

    The text ("word", "word#2", "two words") does not depend on the order in which tokens were met, so
    an instruction has the same signature in every index.
    """

    def __init__(self, hasher: MinHasher, vocabulary: Vocabulary, size: int) -> None:
        super().__init__()
        self._hasher, self._vocabulary, self._size = hasher, vocabulary, size

    def __missing__(self, key: int) -> int:
        value = self[key] = int(self._hasher.premix([self._text(key).encode()])[0])
        return value

    def _text(self, key: int) -> str:
        gram, occurrence = key >> _OCCURRENCE_BITS, key & _MAX_OCCURRENCE
        if self._size == 2:
            first, second = gram >> 21, gram & SOLO
            text = self._vocabulary.token(first)
            if second != SOLO:
                text += " " + self._vocabulary.token(second)
        else:
            text = self._vocabulary.token(gram)
        if occurrence > 1:
            text += f"#{occurrence}"
        return text

    def of(self, keys: Sequence[int]) -> np.ndarray:
        missing = [key for key in set(keys) if key not in self]
        if len(missing) > 1:  # in bulk: one vectorised premix instead of one numpy call per new shingle
            mixed = self._hasher.premix([self._text(key).encode() for key in missing])
            self.update(zip(missing, mixed.tolist(), strict=True))
        return np.fromiter(map(self.__getitem__, keys), np.uint64, len(keys))
