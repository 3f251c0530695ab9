"""Word tokens and n-gram hashes for the decontamination check (pure: no I/O).

Texts are normalised as fingerprints are (`domain.fingerprint`); each distinct word is hashed once with
BLAKE2b to 64 bits, and an n-word window is a polynomial over its words' hashes, computed by Arrow's
vectorised kernels (wrapping in uint64).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.compute as pc

from domain.fingerprint import normalize_instruction

MIN_SUBSTRING_CHARS = 50
ANCHOR_WORDS = 4
# FNV-64's prime: odd, so every position's multiplier is invertible modulo 2^64.
_PRIME = pa.scalar(0x100000001B3, pa.uint64())


class Vocabulary(dict[str, int]):
    """Word -> unsigned 64-bit BLAKE2b hash, computed once per distinct word."""

    def __missing__(self, word: str) -> int:
        value = self[word] = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=8).digest(), "little")
        return value


class Tokens(msgspec.Struct, frozen=True):
    """The words of many texts, flattened: their hashes and the index of the text each belongs to."""

    normalized: list[str]
    words: list[int]  # word count per text
    hashes: pa.Array  # uint64
    text_index: pa.Array  # int64


def tokenize(texts: Sequence[str], vocabulary: dict[str, int] | None = None) -> Tokens:
    """Normalise and split in Python's C string code, then hash each distinct word once (Arrow does the rest)."""
    vocabulary = Vocabulary() if vocabulary is None else vocabulary
    normalized = [normalize_instruction(text) for text in texts]
    # Empty texts become nulls, which split into no words at all (an empty string splits into one "").
    words_lists = pc.split_pattern(pa.array([text or None for text in normalized], pa.large_string()), " ")
    encoded = pc.dictionary_encode(words_lists.flatten())
    distinct = pa.array([vocabulary[word] for word in encoded.dictionary.to_pylist()], pa.uint64())
    return Tokens(
        normalized=normalized,
        words=pc.fill_null(pc.list_value_length(words_lists), 0).to_pylist(),
        hashes=pc.take(distinct, encoded.indices),
        text_index=pc.list_parent_indices(words_lists),
    )


def window_hashes(tokens: Tokens, n: int) -> tuple[pa.Array, pa.Array]:
    """Signed 64-bit hashes of every n-word window inside one text, and the index of that text."""
    count = len(tokens.hashes) - n + 1
    if count <= 0:
        return pa.array([], pa.int64()), pa.array([], pa.int64())
    window = tokens.hashes.slice(0, count)
    for offset in range(1, n):
        window = pc.add(pc.multiply(window, _PRIME), tokens.hashes.slice(offset, count))
    inside = pc.equal(tokens.text_index.slice(0, count), tokens.text_index.slice(n - 1, count))
    owners = pc.filter(tokens.text_index.slice(0, count), inside)
    return pc.filter(window, inside).cast(pa.int64(), safe=False), owners


def substring_eligible(tokens: Tokens) -> list[bool]:
    return [
        len(t) >= MIN_SUBSTRING_CHARS and w >= ANCHOR_WORDS
        for t, w in zip(tokens.normalized, tokens.words, strict=True)
    ]


def json_texts(value: Any) -> list[str]:
    """Every string in a decoded JSON value, nested ones included, depth first.

    With an explicit stack, not recursion: a decoded value may nest as deep as the decoder allowed, which
    is deeper than Python's recursion limit leaves from here.
    """
    texts: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            texts.append(item)
        elif isinstance(item, dict):
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return texts
