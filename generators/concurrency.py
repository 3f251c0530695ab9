"""How many requests one endpoint gets at once: an adaptive limit (AIMD on latency and refusals), pure.

A vLLM server on a GPU decodes hundreds of sequences at once and its output grows with the batch until the
GPU is saturated; past that, more requests only wait (in vLLM's queue, or as 429s from a gateway that bounds
it). No fixed number fits every model and GPU, so each endpoint's limit is found while it works:

- slow start: while nothing has pushed back, the limit grows by one per request that finished while the
  endpoint was full (doubling every round trip), so an idle H200 reaches its ~200 streams in a few seconds;
- congestion avoidance: after the first push-back, it grows by one per full window of such requests;
- latency: a window's median latency per output token `LATENCY_TOLERANCE` times the best window's means
  the batch is past the GPU's knee: the limit stops growing until a window is back under it; at
  `LATENCY_CUT` times (requests queueing in the server) it is cut by a fifth, never below where it started;
- multiplicative decrease: by half on a refusal (429/503, a timeout, a dropped connection); at most once
  per window, since the requests in flight at a decrease were sent under the old limit and would each cut it.

Why latency only holds or trims, and refusals cut: the latency this client sees is also its own: on a busy
machine the event loop's delays inflate it (measured 2026-12-06 on one simulated H200 endpoint, whose
per-stream rate is constant below its batch of 192: a limit cut by a fifth at twice the best latency fell
from 113 to 9 with the machine loaded by other work, utilisation 0.08); a 429 is the server's own word.

Why a tolerance of 2: vLLM's decode is memory-bound until the batch saturates the GPU: per-token latency
rises slowly below the knee (NVIDIA NIM's Llama-3.1-8B table: 4.63 ms at 1 stream, 7.57 ms at 100, when
output is 12,215 of the ~13,000 tokens/s peak reached from ~150 streams) and steeply past it. Doubling marks
"past the knee" without cutting a batch that still gains; a cut by a fifth stays above the knee it found.

`Retry-After` (seconds or an HTTP date) is parsed here; the endpoint's pause is kept by `generators.fleet`.
"""

from __future__ import annotations

import email.utils
import math
import random
import statistics
import time

LATENCY_TOLERANCE = 2.0  # a window's latency per token this many times the best: past the knee, stop growing
LATENCY_CUT = 4.0  # this many times: far past it (requests queue in the server), cut by a fifth
REFUSAL_DECREASE = 0.5  # a 429, a timeout or a dropped connection: the endpoint is overloaded or failing
LATENCY_DECREASE = 0.8  # latency alone: past the knee, not failing
# A shorter answer is no latency sample: its time is mostly the time to its first token, so per token it
# looked several times faster than the long answers (a yes/no classification: 1.6 ms a token against 10.4 on
# a simulated H200), and a window of them set a best that every later window was "4 times" slower than: the
# limit fell from 212 to its floor of 32 in seconds (bench/fleet_bench.py, 2026-12-06).
MIN_TOKENS_PER_SAMPLE = 16
# Latency is judged a window at a time (as many requests as the limit, at least MIN_WINDOW), by its median:
# one request's latency is noisy (measured 2026-12-06, 200 requests at a fixed 32 in flight on one simulated
# H200 endpoint, the machine loaded: per-token latency p10 11.0 ms, median 12.0, p90 29.5, max 42.1).
MIN_WINDOW = 16
BEST_DRIFT = 1.05  # the best window creeps up per window, so a server that got slower for good is re-learnt
MAX_RETRY_AFTER_S = 300.0  # a server asking for longer is paused this long, then tried again


class AdaptiveLimit:
    """One endpoint's limit on requests in flight, between 1 and `cap`; `adaptive=False` keeps `initial`."""

    def __init__(self, initial: int, cap: int, *, adaptive: bool = True) -> None:
        self.cap = max(1, cap)
        self.adaptive = adaptive
        self.limit = float(min(max(1, initial), self.cap))
        self.threshold = float(self.cap)  # slow start below it; set at the first decrease
        self.best: float | None = None  # seconds per token: the best window's median (drifting up)
        self.recent: float | None = None  # the last window's median
        self._since_decrease = math.inf  # requests finished since the last decrease
        self._window: list[float] = []  # seconds per token of the requests finished in this window
        self._window_size = MIN_WINDOW
        self.holding = False  # the last window was past the knee: no growth until one is not
        self.floor = self.limit  # latency alone never cuts below where the limit started

    @property
    def allowed(self) -> int:
        return max(1, int(self.limit))

    def on_success(self, seconds: float, tokens: int, *, was_full: bool) -> None:
        """A request finished in `seconds` with `tokens` out; `was_full`: the endpoint was at its limit."""
        if not self.adaptive:
            return
        self._since_decrease += 1
        if tokens >= MIN_TOKENS_PER_SAMPLE:  # a latency sample
            if not self._window:  # a window is as many requests as the limit allowed when it began
                self._window_size = max(self.allowed, MIN_WINDOW)
            self._window.append(seconds / tokens)
            if len(self._window) >= self._window_size:
                self._close_window(statistics.median(self._window))
        if was_full and not self.holding:
            step = 1.0 if self.limit < self.threshold else 1.0 / self.limit
            self.limit = min(float(self.cap), self.limit + step)

    def _close_window(self, median: float) -> None:
        """A window's median latency per token against the best window's: past the knee, or a new best."""
        self._window.clear()
        self.recent = median
        if self.best is None:
            self.best = median
            return
        self.holding = median > LATENCY_TOLERANCE * self.best
        if median > LATENCY_CUT * self.best:
            self._decrease(LATENCY_DECREASE, floor=self.floor)
        elif not self.holding:
            self.best = min(self.best * BEST_DRIFT, median)

    def on_refusal(self) -> None:
        """A 429/503, a timeout or a connection error."""
        if self.adaptive:
            self._decrease(REFUSAL_DECREASE)

    def _decrease(self, factor: float, floor: float = 1.0) -> None:
        if self._since_decrease < self.allowed:
            return  # this window has already been cut: its requests were sent under the old limit
        self.limit = max(floor, min(self.limit, self.limit * factor))
        self.threshold = self.limit
        self._since_decrease = 0
        self._window.clear()  # judge the new limit by its own requests


def retry_after_s(value: str | None, *, now: float | None = None) -> float | None:
    """`Retry-After` in seconds from now (delta-seconds or an HTTP date), bounded; None when absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    wait = when.timestamp() - (time.time() if now is None else now)
    return min(max(wait, 0.0), MAX_RETRY_AFTER_S)


def jittered(seconds: float, rng: random.Random | None = None) -> float:
    """Full jitter (a uniform draw in [0, seconds]): retries of many requests do not arrive together."""
    return (rng or random).uniform(0.0, seconds)
