"""The latency model's arithmetic on literal cases (tests.simfleet.profiles)."""

from __future__ import annotations

import msgspec
import pytest

from tests.simfleet.profiles import (
    FAST,
    H200_1B,
    H200_8B,
    admits,
    first_token_s,
    stream_rate,
    tokens_of,
    words_within,
)
from tests.simfleet.texts import finish

SMALL = msgspec.structs.replace(FAST, decode_tokens_per_s=100.0, batch_capacity=4, max_queue=2)


def test_capacity_is_the_batch_at_full_rate() -> None:
    assert H200_8B.capacity_tokens_per_s == 192 * 96 == 18_432
    assert H200_1B.capacity_tokens_per_s == 512 * 128 == 65_536
    assert SMALL.capacity_tokens_per_s == 400


@pytest.mark.parametrize(("open_requests", "rate"), [(0, 100.0), (1, 100.0), (4, 100.0), (5, 80.0), (8, 50.0),
                                                     (16, 25.0)])  # fmt: skip
def test_streams_share_the_batch_past_capacity(open_requests: int, rate: float) -> None:
    assert stream_rate(SMALL, open_requests) == pytest.approx(rate)
    # The endpoint's output never exceeds its capacity, however many streams are open.
    assert max(open_requests, 1) * rate <= SMALL.capacity_tokens_per_s


def test_time_to_first_token_grows_with_the_prompt() -> None:
    assert first_token_s(H200_8B, 0) == pytest.approx(0.015)
    assert first_token_s(H200_8B, 300) == pytest.approx(0.015 + 0.010)
    assert first_token_s(H200_1B, 2_000) == pytest.approx(0.010 + 0.010)


def test_admission_stops_at_batch_plus_queue() -> None:
    assert SMALL.max_open == 6
    assert [admits(SMALL, n) for n in (0, 5, 6, 7)] == [True, True, False, False]


def test_tokens_are_words_times_1_3() -> None:
    assert [tokens_of(w) for w in (0, 1, 2, 10, 100)] == [0, 2, 3, 13, 130]
    assert [words_within(t) for t in (1, 2, 3, 12, 13, 128)] == [0, 1, 2, 9, 10, 98]


def test_an_answer_ends_at_its_stop_string_or_its_token_limit() -> None:
    assert finish(" Yes\nTask: more", ["\n"], 16) == ([" Yes"], "stop")
    assert finish(" one two\n\nthree", ["\nTask:", "\n\n"], 16) == ([" one", " two"], "stop")
    pieces, reason = finish(" " + "word " * 50, [], 13)
    assert (len(pieces), reason) == (10, "length")
    assert finish("", ["\n"], 16) == ([], "stop")
