"""MinHash signatures and LSH banding over numpy arrays: the candidate generator for near-duplicates.

`MinHasher` computes the signatures of datasketch's `MinHash` with its "affine64" scheme (SHA-1 of each
shingle, the MurmurHash3 finalizer, then `a*h + b mod 2**64` per permutation), for many shingles and
documents at once; the tests check it equals `datasketch.MinHash.update_batch`.

`BandIndex` maps each document's `bands` band keys to its id (ids below 2**32). A band key is a 32-bit
hash of `rows` consecutive signature values with the band number in its top bits, so that all bands
share one key space; unrelated documents share a key by chance with odds 2**-(32 - log2(bands)) per
band, and a chance collision only adds a candidate that the exact check rejects. Entries are
`key << 32 | id` in sorted uint64 runs, 8 bytes per document and band: a log-structured merge (recent
documents in a dict, then runs merged while of similar size), each run with a directory on the keys'
top bits, so a lookup reads one short slice per band instead of binary-searching a large array.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

_U32 = np.uint32
_U64 = np.uint64
_ID_MASK = _U64(0xFFFFFFFF)
_KEY_SHIFT = _U64(32)
_RECENT_LIMIT = 4096  # documents added one by one, before they become a sorted run
_MERGE_RATIO = 4  # merge a run into its elder while the elder is under 4x its size
_MAX_DIRECTORY_BITS = 22  # 16 MiB of directory at most
_SLICE_ABOVE = 8192  # entries fetched per lookup above which slicing wins (measured)
_CHUNK_VALUES = 1 << 17  # permuted values computed at once (1 MiB): they stay in cache

_FMIX = {
    32: (16, 0x85EBCA6B, 13, 0xC2B2AE35, 16),
    64: (33, 0xFF51AFD7ED558CCD, 33, 0xC4CEB9FE1A85EC53, 33),
}
_DTYPES = {32: np.uint32, 64: np.uint64}


def sha1_hash(data: bytes, width: int = 64) -> int:
    """datasketch's default hash: the first 4 or 8 bytes of SHA-1, little-endian."""
    return int.from_bytes(hashlib.sha1(data).digest()[: width // 8], "little")


def fmix(values: np.ndarray, width: int = 64) -> np.ndarray:
    """The MurmurHash3 finalizer with which datasketch pre-mixes input hashes (wrap-around arithmetic)."""
    dtype = _DTYPES[width]
    s1, m1, s2, m2, s3 = (dtype(c) for c in _FMIX[width])
    h = values.astype(dtype)
    h ^= h >> s1
    h *= m1
    h ^= h >> s2
    h *= m2
    h ^= h >> s3
    return h


class MinHasher:
    """Signatures of datasketch `MinHash(num_perm, seed, scheme=f"affine{width}")`, vectorised.

    64 bits by default: with "affine32" (datasketch's default) the permutations are visibly correlated,
    so pairs of low Jaccard similarity J collide in a band of 4 rows ~30x more often than J**4 predicts
    (measured in bench/dedup_bench.py), which multiplies the candidates; "affine64" follows J**r.
    """

    def __init__(self, num_perm: int, seed: int = 1, width: int = 64) -> None:
        dtype = _DTYPES[width]
        gen = np.random.RandomState(seed)  # the draws datasketch makes, in its order
        self.a = gen.randint(0, 1 << (width - 1), num_perm, dtype=dtype) * dtype(2) + dtype(1)
        self.b = gen.randint(0, 1 << width, num_perm, dtype=dtype)
        self.num_perm, self.width = num_perm, width

    def premix(self, shingles: Sequence[bytes]) -> np.ndarray:
        """The per-shingle part, cacheable: fmix(sha1_hash(shingle))."""
        hashes = np.fromiter((sha1_hash(s, self.width) for s in shingles), _DTYPES[self.width], len(shingles))
        return fmix(hashes, self.width)

    def signature(self, mixed: np.ndarray) -> np.ndarray:
        """One document's signature from its premixed shingle hashes (at least one)."""
        return (np.multiply.outer(mixed, self.a) + self.b).min(axis=0)

    def signatures(self, mixed: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Signatures of many documents: `mixed` holds their shingle hashes back to back, `counts[i] >= 1` each.

        Documents of one length are stacked, so each minimum runs over a contiguous (docs, length, perms) block.
        """
        out = np.empty((len(counts), self.num_perm), self.a.dtype)
        starts = np.cumsum(counts) - counts
        order = np.argsort(counts, kind="stable")
        bounds = np.flatnonzero(np.diff(counts[order])) + 1
        for group in np.split(order, bounds):
            length = int(counts[group[0]])
            step = max(1, _CHUNK_VALUES // (length * self.num_perm))
            for first in range(0, len(group), step):
                docs = group[first : first + step]
                values = np.multiply.outer(mixed[starts[docs][:, None] + np.arange(length)], self.a)
                values += self.b
                out[docs] = values.min(axis=1)
        return out


class BandIndex:
    """Document ids by LSH band key; `bands * rows` signature values per document."""

    def __init__(self, bands: int, rows: int, seed: int = 1) -> None:
        if not 1 <= bands <= 256:
            raise ValueError("bands must be between 1 and 256")
        self.bands, self.rows = bands, rows
        self._band_bits = max(1, (bands - 1).bit_length())
        multipliers = np.random.RandomState(seed).randint(0, 1 << 63, rows, dtype=_U64)
        self._multipliers = multipliers * _U64(2) + _U64(1)
        self._prefixes = (np.arange(bands, dtype=_U64) << _U64(32 - self._band_bits)).astype(_U32)
        self._runs: list[_Run] = []
        self._recent: dict[int, list[int]] = {}
        self._recent_keys: list[np.ndarray] = []
        self._recent_ids: list[int] = []

    def keys(self, signatures: np.ndarray) -> np.ndarray:
        """(n, bands) uint32 band keys, ascending along each row: a multiply-add hash of each band's rows
        (the high half of the 64-bit sum), its top bits replaced by the band number."""
        mixed = signatures.reshape(len(signatures), self.bands, self.rows) @ self._multipliers  # wraps mod 2**64
        return ((mixed >> _KEY_SHIFT).astype(_U32) >> _U32(self._band_bits)) | self._prefixes

    def add_many(self, keys: np.ndarray, ids: np.ndarray) -> None:
        """Insert documents in bulk as one sorted run."""
        if len(ids):
            self._push(self._packed(keys, ids))

    def add(self, keys: np.ndarray, doc_id: int) -> None:
        """Insert one document: into a dict until there are enough for a sorted run."""
        for key in keys.tolist():
            bucket = self._recent.get(key)
            if bucket is None:
                self._recent[key] = [doc_id]
            else:
                bucket.append(doc_id)
        self._recent_keys.append(keys)
        self._recent_ids.append(doc_id)
        if len(self._recent_ids) == _RECENT_LIMIT:
            self.add_many(np.stack(self._recent_keys), np.asarray(self._recent_ids, np.int64))
            self._recent, self._recent_keys, self._recent_ids = {}, [], []

    def query(self, keys: np.ndarray, min_hits: int = 1) -> np.ndarray:
        """Ids (ascending) sharing at least `min_hits` band keys with `keys` (one row of `self.keys`)."""
        found = [run.matching(keys) for run in self._runs]
        if self._recent:
            found.append(np.array([i for key in keys.tolist() for i in self._recent.get(key, ())], _U32))
        hits = np.concatenate(found) if len(found) > 1 else found[0] if found else np.empty(0, _U32)
        hits.sort()
        # (np.compress: boolean indexing is twice as slow on these sizes)
        if min_hits > 1:  # a document has one key per band: k equal neighbours are k bands
            hits = np.compress(hits[min_hits - 1 :] == hits[: len(hits) - min_hits + 1], hits[min_hits - 1 :])
        if len(hits) > 1:
            hits = np.compress(np.concatenate(([True], hits[1:] != hits[:-1])), hits)
        return hits.astype(np.int64)

    def snapshot(self) -> tuple[list[_Run], list[np.ndarray], list[int]]:
        """The runs (never changed in place) and copies of the recent documents' keys and ids."""
        return list(self._runs), list(self._recent_keys), list(self._recent_ids)

    def merged(self, runs: list[_Run], recent_keys: list[np.ndarray], recent_ids: list[int]) -> _Run:
        """One run holding a snapshot's entries: queries answer the same ids (they are sorted and unique)."""
        if len(runs) == 1 and not recent_ids:
            return runs[0]
        parts = [run.entries for run in runs]
        if recent_ids:
            parts.append(self._packed(np.stack(recent_keys), np.asarray(recent_ids, np.int64)))
        entries = np.concatenate(parts) if parts else np.empty(0, _U64)
        entries.sort(kind="stable")  # sorted runs back to back: timsort merges them
        return _Run(entries)

    def restore(self, entries: np.ndarray, directory: np.ndarray) -> None:
        """Start from one run (a `merged` one, read back from a file); the index must be empty."""
        if self._runs or self._recent_ids:
            raise ValueError("restore into an empty band index only")
        if len(entries):
            self._runs.append(_Run(entries, directory))

    def _packed(self, keys: np.ndarray, ids: np.ndarray) -> np.ndarray:
        packed = keys.astype(_U64)
        packed <<= _KEY_SHIFT
        packed |= ids.astype(_U64)[:, None]
        packed = packed.ravel()
        packed.sort()
        return packed

    def _push(self, entries: np.ndarray) -> None:
        self._runs.append(_Run(entries))
        while len(self._runs) > 1 and len(self._runs[-2]) < _MERGE_RATIO * len(self._runs[-1]):
            newer = self._runs.pop()
            merged = np.concatenate([self._runs[-1].entries, newer.entries])
            merged.sort(kind="stable")  # two sorted runs: timsort merges them in one pass (20x quicksort at 50M)
            self._runs[-1] = _Run(merged)

    @property
    def nbytes(self) -> int:
        """Bytes of the sorted runs (the recent documents' dict comes on top)."""
        return sum(run.entries.nbytes + run.directory.nbytes for run in self._runs)


class _Run:
    """Sorted `key << 32 | id` entries and a directory: where each value of the keys' top bits starts.

    A lookup reads the directory cell of its key and the few entries in it (8 on average) instead of
    a binary search over the whole run, whose every step past the cached top levels is a cache miss.
    """

    def __init__(self, entries: np.ndarray, directory: np.ndarray | None = None) -> None:
        self.entries = entries
        self._bits = min(_MAX_DIRECTORY_BITS, max(1, int(len(entries)).bit_length() - 3))
        self._shift = _U64(64 - self._bits)
        if directory is not None:  # read back with its entries: checked by the file's digest and length
            if len(directory) != (1 << self._bits) + 1 or int(directory[-1]) != len(entries):
                raise ValueError("the directory does not fit the entries")
            self.directory = directory
            return
        counts = np.bincount((entries >> self._shift).astype(np.int64), minlength=1 << self._bits)
        self.directory = np.zeros(len(counts) + 1, np.uint32 if len(entries) < 1 << 32 else np.int64)
        np.cumsum(counts, out=self.directory[1:])

    def __len__(self) -> int:
        return len(self.entries)

    def matching(self, keys: np.ndarray) -> np.ndarray:
        """The ids (uint32) of the entries whose key is one of `keys` (uint32). All entries of a key lie
        in its directory cell, so the candidates are one short slice per band."""
        cells = ((keys.astype(_U64) << _KEY_SHIFT) >> self._shift).astype(np.int64)
        starts, ends = self.directory[cells].astype(np.int64), self.directory[cells + 1].astype(np.int64)
        counts = ends - starts
        total = int(counts.sum())
        if not total:
            return np.empty(0, _U32)
        if total > _SLICE_ABOVE:  # large buckets: a copy per slice beats building an index array
            pairs = zip(starts.tolist(), ends.tolist(), strict=True)
            entries = np.concatenate([self.entries[start:end] for start, end in pairs if end > start])
        else:
            entries = self.entries[np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(total)]
        return np.compress((entries >> _KEY_SHIFT).astype(_U32) == np.repeat(keys, counts), entries).astype(_U32)
