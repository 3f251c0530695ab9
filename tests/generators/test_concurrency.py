"""The adaptive limit: slow start, growth only under load, cuts on refusals and on latency past the knee."""

from __future__ import annotations

import email.utils

from generators.concurrency import LATENCY_TOLERANCE, AdaptiveLimit, jittered, retry_after_s


def test_slow_start_doubles_per_window_while_the_endpoint_is_full_and_stops_at_the_cap() -> None:
    limit = AdaptiveLimit(4, 64)
    for _ in range(4):  # one window of 4 requests, each finishing while the endpoint was full
        limit.on_success(1.0, 100, was_full=True)
    assert limit.allowed == 8
    for _ in range(200):
        limit.on_success(1.0, 100, was_full=True)
    assert limit.allowed == 64


def test_a_limit_that_is_not_reached_does_not_grow() -> None:
    limit = AdaptiveLimit(4, 64)
    for _ in range(100):
        limit.on_success(1.0, 100, was_full=False)
    assert limit.allowed == 4


def test_a_refusal_halves_once_per_window_then_growth_is_additive() -> None:
    limit = AdaptiveLimit(4, 1024)
    for _ in range(60):
        limit.on_success(1.0, 100, was_full=True)
    before = limit.allowed
    limit.on_refusal()
    limit.on_refusal()  # the same window: requests sent under the old limit
    assert limit.allowed == before // 2
    halved = limit.allowed
    for _ in range(halved + 2):  # about one window: +1 (congestion avoidance), not doubling
        limit.on_success(1.0, 100, was_full=True)
    assert limit.allowed == halved + 1
    limit.on_refusal()  # a new window has passed: it may cut again
    assert limit.allowed == (halved + 1) // 2


def test_latency_past_the_knee_holds_the_limit_and_far_past_it_trims_it_never_below_the_start() -> None:
    limit = AdaptiveLimit(100, 1024)
    for _ in range(100):
        limit.on_success(1.0, 100, was_full=False)  # 10 ms a token: the best window
    assert (limit.allowed, limit.best) == (100, 0.01)
    for n in range(100):  # a few slow outliers in a window do not move its median
        limit.on_success(5.0 if n % 10 == 0 else 1.0, 100, was_full=True)
    assert limit.allowed > 100 and not limit.holding
    while not limit.holding:  # three times slower per token: past the knee (seen when the window closes)
        limit.on_success(LATENCY_TOLERANCE * 1.5, 100, was_full=True)
    held = limit.allowed
    for _ in range(3 * held):  # full all along, yet it does not grow while past the knee
        limit.on_success(LATENCY_TOLERANCE * 1.5, 100, was_full=True)
    assert limit.holding and limit.allowed == held
    for _ in range(20 * held):  # five times slower: requests queue in the server; trimmed, down to the start
        limit.on_success(5.0, 100, was_full=True)
    assert limit.allowed == 100


def test_a_fixed_limit_never_moves_and_short_answers_are_no_latency_samples() -> None:
    fixed = AdaptiveLimit(16, 16, adaptive=False)
    fixed.on_refusal()
    fixed.on_success(10.0, 1, was_full=True)
    assert fixed.allowed == 16
    limit = AdaptiveLimit(8, 64)
    for _ in range(100):
        limit.on_success(0.02, 1, was_full=False)  # a yes/no answer: its time is its time to first token
    assert limit.best is None
    for _ in range(16):
        limit.on_success(1.6, 160, was_full=False)
    assert limit.best == 0.01


def test_retry_after_in_seconds_or_as_an_http_date_is_bounded() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s("100000") == 300.0
    assert retry_after_s(None) is None and retry_after_s("soon") is None
    date = email.utils.formatdate(1_000_010.0, usegmt=True)
    assert retry_after_s(date, now=1_000_000.0) == 10.0
    assert retry_after_s(email.utils.formatdate(999_000.0, usegmt=True), now=1_000_000.0) == 0.0
    assert all(0 <= jittered(2.0) <= 2.0 for _ in range(100))
