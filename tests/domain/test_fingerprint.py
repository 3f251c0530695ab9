from __future__ import annotations

import pytest

from domain.fingerprint import fingerprint, has_words, normalize_instruction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Write a poem about the sea.", "write a poem about the sea"),
        ("  WRITE a poem,   about the SEA!!! ", "write a poem about the sea"),
        ("write_a-poem/about\tthe\nsea", "write a poem about the sea"),
        ("Ｗｒｉｔｅ a poem", "write a poem"),  # full-width letters fold under NFKC
        ("Café — “naïve” résumé", "café naïve résumé"),
        ("Straße", "strasse"),  # case folding, not just lower()
        ("What is 2+2?", "what is 2 2"),
        ("?!...", ""),
    ],
)
def test_normalize_instruction(text: str, expected: str) -> None:
    assert normalize_instruction(text) == expected


def test_variants_share_a_fingerprint() -> None:
    variants = ["Write a poem about the sea.", "write a poem about the sea", " WRITE a poem -- about the sea!! "]
    assert len({fingerprint(v) for v in variants}) == 1


def test_different_words_differ() -> None:
    assert fingerprint("Write a poem about the sea.") != fingerprint("Write a poem about the see.")
    assert fingerprint("a b") != fingerprint("ab")


def test_fingerprint_is_a_stable_signed_64_bit_integer() -> None:
    value = fingerprint("Write a poem about the sea.")
    assert -(2**63) <= value < 2**63
    # pinned: the stored fingerprints of existing databases depend on it never changing
    assert value == fingerprint("write a poem about the sea")
    assert value == int.from_bytes(
        __import__("hashlib").blake2b(b"write a poem about the sea", digest_size=8).digest(), "big", signed=True
    )


def test_the_ascii_fast_path_matches_the_general_rule() -> None:
    """Every ASCII character, alone and between words, folds exactly as the Unicode regex path does."""
    import re
    import unicodedata

    def reference(text: str) -> str:
        return re.sub(r"[\W_]+", " ", unicodedata.normalize("NFKC", text).casefold()).strip()

    samples = ["".join(chr(c) for c in range(128))] + [f"Ab{chr(c)}Cd {chr(c)}x" for c in range(128)]
    for text in samples:
        assert normalize_instruction(text) == reference(text), repr(text)


def test_has_words_agrees_with_the_normal_form_on_every_code_point() -> None:
    for code in range(0x110000):
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert has_words(chr(code)) == bool(normalize_instruction(chr(code))), hex(code)
