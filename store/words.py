"""A task's instruction length in words, stored at ingest (`tasks.instruction_words`, migration 11).

A word is a run of characters other than tab, newline, form feed, carriage return and space: RE2's `\\S+`,
which is how the balance report counted them per row at every call (`len(regexp_extract_all(instruction,
'\\S+'))`, 0.7 s of the 1.5 s `GET /stats` took at 1M tasks). The definition has three spellings, kept here side
by side and tested to agree (tests/store/test_words.py): `words_sql` where rows are already in DuckDB (the
migration's backfill, an import's move), `word_counts` for `add_tasks`' batches (the regex there would cost
ingest about a quarter of its speed) and `instruction_words` for one text. `word_counts` counts word starts in
the batch's UTF-8 bytes: the five separators are ASCII, and every byte of a multi-byte character is >= 0x80,
a word byte, exactly as RE2 reads the text (Python's `str.split` would differ on \\v, \\x1c-\\x1f, U+00A0...).
"""

from __future__ import annotations

import re

import numpy as np
import pyarrow as pa

_IS_WORD_BYTE = np.ones(256, bool)
_IS_WORD_BYTE[[9, 10, 12, 13, 32]] = False  # \t \n \f \r and space
_WORD = re.compile(r"[^\t\n\f\r ]+")  # RE2's \S, spelled out: Python's \s is wider


def words_sql(column: str) -> str:
    """The SQL expression counting the words of a VARCHAR column (or expression)."""
    return f"len(regexp_extract_all({column}, '\\S+'))"


def instruction_words(text: str) -> int:
    """Words in one text, as `words_sql` counts them."""
    return len(_WORD.findall(text))


def word_counts(texts: pa.Array) -> pa.Array:
    """`instruction_words` of each string of an Arrow string array (no nulls), as int32, vectorised."""
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    offsets = np.frombuffer(texts.buffers()[1], width)[texts.offset : texts.offset + len(texts) + 1]
    data = np.frombuffer(texts.buffers()[2] or b"", np.uint8)
    word = _IS_WORD_BYTE[data]
    starts = word.copy()  # a word byte that follows no word byte of its own text
    starts[1:] &= ~word[:-1]
    first = offsets[:-1][offsets[:-1] < len(data)]
    starts[first] = word[first]
    positions = np.flatnonzero(starts)
    counts = np.searchsorted(positions, offsets[1:]) - np.searchsorted(positions, offsets[:-1])
    return pa.array(counts.astype(np.int32))
