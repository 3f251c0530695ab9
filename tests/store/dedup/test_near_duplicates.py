from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from rapidfuzz import process
from rapidfuzz.distance import LCSseq
from rouge_score import rouge_scorer

from domain.screening import rouge_l_f, rouge_tokens
from store.dedup import instruction_codes
from store.dedup.instruction_codes import (
    cell_counts,
    cell_counts_of,
    code_points,
    shared_token_bound,
    shingle_keys,
    shingle_keys_many,
)
from store.dedup.lsh import BandIndex, MinHasher
from store.dedup.near_duplicates import NearDuplicateIndex

CORPUS_SCRIPT = Path("/work/shared/bench/make_instruction_corpus.py")
SCORER = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)

PAIRS = [
    ("Write a poem about the sea.", "Write a short poem about the sea."),
    ("Give three tips for staying healthy.", "List three tips to stay healthy."),
    ("Translate the sentence into French.", "Summarize the article in one sentence."),
    ("Name a color.", "Name a colour."),
    ("a b c d e f g h i j", "a b c d e f g x y z"),  # lcs 7 of 10: F = 0.7 exactly, not above
    ("a b c d e f g h i j", "a b c d e f g h y z"),  # 0.8
    ("Ünïcode wörds only", "unicode words only"),
    ("", "anything"),
]
# Around the boundary: (candidate, reference) with F = 2*LCS/(m+n) at or just above 0.7.
BOUNDARY = [
    ("a b c d e f g", "a b c d e f g h i j k l m"),  # 14/20, which rouge_score rounds above 0.7
    ("a b c d e f g h i j k l m", "a b c d e f g"),  # the same, swapped
    ("a b c d e f g x y", "a b c d e f g h i j"),  # 14/19 > 0.7
    ("one two three four five six seven eight", "one two three four five six nine ten eleven twelve"),  # 12/18
    ("one two three four five six seven", "one two three four five six eight nine ten"),  # 12/16 = 0.75
    ("the cat sat on the mat", "the cat sat on a mat today"),  # 10/13
    ("the the the the the the the x", "the the the the the the the y"),  # repeats: 14/16
]


def rouge_score_f(candidate: str, reference: str) -> float:
    return SCORER.score(reference, candidate)["rougeL"].fmeasure


@pytest.mark.parametrize(("candidate", "reference"), PAIRS + BOUNDARY)
def test_matches_rouge_score_exactly(candidate: str, reference: str) -> None:
    expected = rouge_score_f(candidate, reference)
    assert rouge_l_f(rouge_tokens(candidate), rouge_tokens(reference)) == expected


@pytest.mark.parametrize(("candidate", "reference"), PAIRS + BOUNDARY)
def test_decisions_equal_rouge_scores_around_the_boundary(candidate: str, reference: str) -> None:
    index = NearDuplicateIndex(0.7, [reference])  # a small pool: every kept instruction is considered
    near, score, match = index.is_near_duplicate(candidate)
    expected = rouge_score_f(candidate, reference)
    assert near is (expected > 0.7)
    if expected >= 0.7:
        assert (score, match) == (expected, reference)
    else:  # below the threshold the score is a lower bound: pairs that cannot reach it are not scored
        assert (score, match) in ((0.0, None), (expected, reference))


def test_rouge_scores_rounding_decides_at_exactly_the_threshold() -> None:
    # 7 of 7 against 7 of 13: F = 14/20 rounds to 0.7000000000000001 in rouge_score, so it is a
    # duplicate there, and here; P = R = 0.7 gives exactly 0.7, which is not.
    assert rouge_score_f("a b c d e f g", "a b c d e f g h i j k l m") > 0.7
    assert NearDuplicateIndex(0.7, ["a b c d e f g h i j k l m"]).is_near_duplicate("a b c d e f g")[0]
    assert rouge_score_f("a b c d e f g x y z", "a b c d e f g h i j") == 0.7


@pytest.mark.parametrize(("candidate", "reference"), PAIRS + BOUNDARY)
def test_the_lsh_reports_only_true_duplicates_with_their_exact_score(candidate: str, reference: str) -> None:
    index = NearDuplicateIndex(0.7, [reference], exact_below=0)
    near, score, match = index.is_near_duplicate(candidate)
    expected = rouge_score_f(candidate, reference)
    assert near <= (expected > 0.7)
    if expected >= 0.75:  # well inside: the LSH must find it (at the boundary it may miss, see below)
        assert (near, score, match) == (True, expected, reference)


def test_the_boundary_is_strictly_above_the_threshold() -> None:
    index = NearDuplicateIndex(0.7, ["a b c d e f g h i j"])
    assert index.is_near_duplicate("a b c d e f g x y z") == (False, 0.7, "a b c d e f g h i j")
    assert index.is_near_duplicate("a b c d e f g h y z")[0] is True


def test_best_match_picks_the_closest_kept_instruction() -> None:
    index = NearDuplicateIndex(0.7, ["Write a poem about the sea.", "List three tips to stay healthy."])
    assert len(index) == 2
    near, score, match = index.is_near_duplicate("Give three tips to stay healthy.")
    assert near and match == "List three tips to stay healthy." and score == pytest.approx(10 / 12)
    assert index.is_near_duplicate("Explain photosynthesis to a child.")[0] is False


def test_identical_token_sequences_match_the_first_kept_one() -> None:
    index = NearDuplicateIndex(0.7, ["Write a poem.", "WRITE a poem!", "Something else entirely."], exact_below=0)
    assert index.is_near_duplicate("write, a POEM") == (True, 1.0, "Write a poem.")


def test_instructions_without_tokens_are_never_duplicates() -> None:
    index = NearDuplicateIndex(0.7, ["", "!!!", "Write a poem."], exact_below=0)
    index.add("...")
    assert index.is_near_duplicate("?") == (False, 0.0, None)
    assert len(index) == 4 and len(index.candidates("")) == 0


def greedy(index: NearDuplicateIndex, texts: list[str]) -> list[str]:
    kept = []
    for text in texts:
        if not index.is_near_duplicate(text)[0]:
            index.add(text)
            kept.append(text)
    return kept


@pytest.mark.parametrize("exact_below", [500, 0])
def test_greedy_in_arrival_order_compares_with_kept_instructions_only(exact_below: int) -> None:
    a, b, c = "a b c d e f g h i j", "a b c d e f g h k l", "a b c d e f m n k l"
    assert rouge_l_f(rouge_tokens(b), rouge_tokens(a)) == pytest.approx(0.8)
    assert rouge_l_f(rouge_tokens(c), rouge_tokens(b)) == pytest.approx(0.8)
    assert rouge_l_f(rouge_tokens(c), rouge_tokens(a)) == pytest.approx(0.6)
    assert greedy(NearDuplicateIndex(0.7, exact_below=exact_below), [a, b, c]) == [a, c]  # b rejected, c kept
    assert greedy(NearDuplicateIndex(0.7, exact_below=exact_below), [b, a, c]) == [b]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    if not CORPUS_SCRIPT.exists():
        pytest.skip(f"{CORPUS_SCRIPT} is not here")
    path = tmp_path_factory.mktemp("corpus") / "corpus.jsonl"
    subprocess.run([sys.executable, str(CORPUS_SCRIPT), "3000", str(path), "--seed", "1234"], check=True)
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_the_index_finds_planted_paraphrases(corpus: list[dict]) -> None:
    texts = {row["id"]: row["text"] for row in corpus}
    index = NearDuplicateIndex(0.7, [row["text"] for row in corpus if row["kind"] == "base"], exact_below=0)
    paraphrases = [
        row
        for row in corpus
        if row["kind"] == "para" and rouge_l_f(rouge_tokens(row["text"]), rouge_tokens(texts[row["src"]])) > 0.7
    ]
    assert len(paraphrases) > 300
    for row in paraphrases:
        near, score, match = index.is_near_duplicate(row["text"])
        assert near and score >= rouge_l_f(rouge_tokens(row["text"]), rouge_tokens(texts[row["src"]]))


def exact_decisions(texts: list[str], kept: list[str], kept_before: list[int]) -> list[bool]:
    """An independent exact scan: each text against the first `kept_before` kept texts."""
    vocabulary: dict[str, str] = {}

    def encode(text: str) -> str:
        return "".join(vocabulary.setdefault(t, chr(0x100 + len(vocabulary))) for t in rouge_tokens(text))

    kept_codes = [encode(t) for t in kept]
    lengths = np.array([len(c) for c in kept_codes] or [0])
    decisions = []
    for text, limit in zip(texts, kept_before, strict=True):
        code = encode(text)
        if not code or not limit:
            decisions.append(False)
            continue
        lcs = process.cdist([code], kept_codes[:limit], scorer=LCSseq.similarity, dtype=np.int32)[0]
        precision, recall = lcs / len(code), lcs / lengths[:limit]
        with np.errstate(invalid="ignore"):  # rouge_score's formula and rounding, not 2*LCS/(m+n)
            decisions.append(bool((2 * precision * recall / (precision + recall) > 0.7).any()))
    return decisions


def test_the_lsh_agrees_with_the_exact_scan_on_a_generated_corpus(corpus: list[dict]) -> None:
    texts = [row["text"] for row in corpus]
    index = NearDuplicateIndex(0.7, exact_below=0)
    decisions, kept, kept_before, reported = [], [], [], []
    for text in texts:
        kept_before.append(len(kept))
        near, score, match = index.is_near_duplicate(text)
        decisions.append(near)
        if near:
            reported.append((text, score, match))
        else:
            index.add(text)
            kept.append(text)
    truth = exact_decisions(texts, kept, kept_before)
    duplicates = sum(truth)
    found = sum(d and t for d, t in zip(decisions, truth, strict=True))
    assert duplicates > 500 and found / duplicates >= 0.95
    assert all(t for d, t in zip(decisions, truth, strict=True) if d)  # no false duplicate
    for text, score, match in reported[::5]:
        assert score == rouge_score_f(text, match) > 0.7


def test_bulk_and_one_by_one_give_the_same_candidates(corpus: list[dict]) -> None:
    texts = [row["text"] for row in corpus[:2000]]
    bulk = NearDuplicateIndex(0.7, texts, exact_below=0)
    one_by_one = NearDuplicateIndex(0.7, exact_below=0)
    for text in texts:
        one_by_one.add(text)
    for row in corpus[2000:2300]:
        assert np.array_equal(bulk.candidates(row["text"]), one_by_one.candidates(row["text"]))


@pytest.mark.parametrize("size", [1, 2])
def test_shingle_keys_in_bulk_equal_one_at_a_time(size: int) -> None:
    codes = ["abc", "aab", "x", "abab", "zzzz", "banana"]
    keys, counts = shingle_keys_many(*code_points(codes), size)
    singles = [shingle_keys(code, size) for code in codes]
    assert counts.tolist() == [len(s) for s in singles]
    chunks = np.split(keys, np.cumsum(counts)[:-1])
    assert [sorted(c.tolist()) for c in chunks] == [sorted(s) for s in singles]
    assert len(set(shingle_keys("aaaa", size))) == len(shingle_keys("aaaa", size))  # a multiset, as a set


def test_the_cell_bound_is_never_below_the_shared_tokens() -> None:
    rng = np.random.default_rng(3)
    codes = ["".join(chr(0x100 + t) for t in rng.integers(0, 300, rng.integers(1, 40))) for _ in range(300)]
    cells = cell_counts(*code_points(codes))
    assert all(np.array_equal(cell_counts_of(code)[0], row) for code, row in zip(codes, cells, strict=True))
    for query in range(0, 300, 7):
        bound = shared_token_bound(cells, np.arange(len(codes)), cells[query])
        assert bound is not None
        for other, code in enumerate(codes):
            shared = sum(min(codes[query].count(c), code.count(c)) for c in set(code))
            assert shared <= bound[other] and LCSseq.similarity(codes[query], code) <= bound[other]


def test_minhasher_equals_datasketch() -> None:
    datasketch = pytest.importorskip("datasketch")
    for width, num_perm, seed in ((64, 128, 1), (32, 64, 7)):
        hasher = MinHasher(num_perm, seed, width)
        docs = [[b"write", b"a", b"poem", b"a#2"], [b"x"], [bytes([i]) for i in range(40)]]
        mixed = [hasher.premix(doc) for doc in docs]
        together = hasher.signatures(np.concatenate(mixed), np.array([len(d) for d in docs]))
        for doc, own, signature in zip(docs, mixed, together, strict=True):
            reference = datasketch.MinHash(num_perm=num_perm, seed=seed, scheme=f"affine{width}")
            reference.update_batch(doc)
            assert np.array_equal(reference.hashvalues, hasher.signature(own))
            assert np.array_equal(reference.hashvalues, signature)


@pytest.mark.parametrize("min_hits", [1, 2, 3])
def test_band_index_finds_exactly_the_colliding_documents(min_hits: int) -> None:
    rng = np.random.default_rng(1)
    bands = BandIndex(8, 2)
    signatures = rng.integers(0, 40, (9000, 16)).astype(np.uint64)  # few values: many collisions
    keys = bands.keys(signatures)
    bands.add_many(keys[:5000], np.arange(5000))
    for doc_id in range(5000, 9000):  # through the recent dict and several merged runs
        bands.add(keys[doc_id], doc_id)
    for query in rng.integers(0, 9000, 40):
        expected = np.flatnonzero((keys == keys[query]).sum(axis=1) >= min_hits)
        assert np.array_equal(bands.query(keys[query], min_hits), expected)


def test_scores_stay_exact_past_the_last_character(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(instruction_codes, "MAX_CODES", 4)  # tokens past the fourth share one character
    kept = ["alpha beta gamma delta epsilon zeta eta theta", "one two three four five six"]
    index = NearDuplicateIndex(0.7, kept, exact_below=0)
    for query in ("alpha beta gamma delta one two three four", "alpha beta gamma delta epsilon zeta eta iota"):
        near, score, match = index.is_near_duplicate(query)
        expected = max(rouge_score_f(query, k) for k in kept)
        assert near is (expected > 0.7) and (score == expected or not near)


def test_parameters_are_checked() -> None:
    with pytest.raises(ValueError, match="multiple"):
        NearDuplicateIndex(num_perm=100, bands=64)
    with pytest.raises(ValueError, match="shingle_size"):
        NearDuplicateIndex(shingle_size=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="min_band_hits"):
        NearDuplicateIndex(num_perm=64, bands=32, min_band_hits=33)
