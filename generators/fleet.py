"""The fleet: every endpoint's adaptive limit, its pause, its HTTP connections, and fair shares between jobs.

One `Fleet` per service (`service.engine_holder` owns it); every engine client of every job (generation and
judge, any model) asks it for a slot on one of its endpoints (`acquire`) and gives the slot back with how the
request went (`release`). So:

- an endpoint gets as many requests as its `AdaptiveLimit` allows (`generators.concurrency`: it grows while
  the endpoint keeps up, and shrinks on 429s, errors and latency past the GPU's knee);
- an endpoint that answered 429/503 with `Retry-After` gets nothing until then (with a little jitter, so the
  requests held back do not all arrive at once), and one that failed is paused for a back-off that doubles
  with each failure in a row (full jitter); the first request it answers ends the pause: it is used again;
- a free slot goes to the waiting job with the fewest requests in flight for its weight (weighted max-min
  fairness), first come first served within a job. A job's share (its id and weight) travels in a context
  variable (`job_share`), set by the worker around the job, like the job id its logs carry: the engine
  clients and their callers need not pass it along;
- each slot goes to the endpoint with the most free room that the request may use, so a fleet of unequal
  servers fills each to its own limit (the first request of a retry avoids the endpoint that just failed).

HTTP: one aiohttp session per endpoint (its connector keeps the connections alive, unbounded: the gate bounds
them). Not httpx, which the rest of the project uses: the engine client is the service's hot path, and httpx
cost more CPU per request by a multiple (measured 2026-12-06 on this machine, 2,000 streamed completions to one
simulated endpoint with an instant profile, the client's CPU per request: httpx one client 1.07 ms at 16 in
flight and 9.0 ms at 256 (httpcore's pool assigns requests to connections in O(connections x requests),
encode/httpcore#1035), aiohttp 0.29-0.48 ms at any concurrency; at the coordinator's ceiling httpx took ~70%
of the service's busy CPU (py-spy).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl
import time
from collections import deque
from collections.abc import Iterator, Sequence

import aiohttp
import certifi
import msgspec

from domain.redaction import redact_url
from generators.concurrency import AdaptiveLimit, jittered

FAILURE_PAUSE_S = 0.5  # the first pause of an endpoint that failed; doubles per failure in a row
MAX_FAILURE_PAUSE_S = 30.0
RETRY_AFTER_JITTER = 0.2  # a Retry-After pause is stretched by up to a fifth


class Share(msgspec.Struct, frozen=True):
    key: str  # the job's id ("" outside a job)
    weight: int = 1


_SHARE: contextvars.ContextVar[Share] = contextvars.ContextVar("fleet_share", default=Share(""))  # noqa: B039 - frozen


@contextlib.contextmanager
def job_share(key: str, weight: int = 1) -> Iterator[None]:
    """The requests made inside (tasks started inside included) count against this job's fair share."""
    token = _SHARE.set(Share(key, max(1, weight)))
    try:
        yield
    finally:
        _SHARE.reset(token)


class Outcome(msgspec.Struct, frozen=True):
    kind: str  # "ok", "refused" (a 429 or 5xx, a timeout, a dropped connection) or "cancelled" (no signal)
    tokens: int = 0
    retry_after_s: float | None = None


CANCELLED = Outcome("cancelled")  # an attempt that ended without the endpoint's word: no signal


class Gate:
    """One endpoint: its limit, its requests in flight, its pause, its HTTP session (opened at first use)."""

    def __init__(self, url: str, limit: AdaptiveLimit) -> None:
        self.url, self.limit = url, limit
        self.session: aiohttp.ClientSession | None = None
        self.in_flight = 0
        self.paused_until = 0.0
        self.failures_in_row = 0
        self.served = 0

    def room(self, now: float) -> int:
        return 0 if now < self.paused_until else self.limit.allowed - self.in_flight


class Lease(msgspec.Struct):
    """A slot on one endpoint, held for one attempt of one request."""

    gate: Gate
    share: Share
    started: float

    @property
    def url(self) -> str:
        return self.gate.url

    @property
    def session(self) -> aiohttp.ClientSession:
        assert self.gate.session is not None  # opened before any lease on the gate is handed out
        return self.gate.session


class EndpointLoad(msgspec.Struct, frozen=True, kw_only=True):
    """How one endpoint is used now (`GET /v1/engine`)."""

    endpoint: str
    limit: int  # requests it may have in flight now (adaptive: what it has been found to absorb)
    in_flight: int
    served: int  # requests it answered since the service started
    paused_s: float  # seconds left of a pause after a refusal (Retry-After) or a failure


class _Waiter(msgspec.Struct):
    future: asyncio.Future
    endpoints: frozenset[str]
    avoid: str | None


class Fleet:
    """The service's endpoints and the jobs' fair shares of them (see the module's docstring)."""

    def __init__(
        self,
        *,
        cap: int,
        initial: int,
        adaptive: bool,
        timeout_s: float,
    ) -> None:
        self.cap, self.initial, self.adaptive = cap, initial, adaptive
        # Answers are streamed: the timeout is one of progress (the longest wait for the next bytes).
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=timeout_s, sock_read=timeout_s)
        # One TLS context for every session, built here (~30 ms), not in the event loop at a session's opening;
        # certifi's roots, as httpx (the rest of the project) uses.
        self._tls = ssl.create_default_context(cafile=certifi.where())
        self.gates: dict[str, Gate] = {}
        self._waiting: dict[str, deque[_Waiter]] = {}
        self._held: dict[str, int] = {}
        self._weights: dict[str, int] = {}
        self._wakeup: asyncio.TimerHandle | None = None

    def gate(self, url: str) -> Gate:
        if url not in self.gates:
            limit = AdaptiveLimit(self.initial, self.cap, adaptive=self.adaptive)
            self.gates[url] = Gate(url, limit)
        return self.gates[url]

    def waiting(self, key: str) -> int:
        """Requests of this job waiting for a slot (none: the fleet could take more of its work now)."""
        return len(self._waiting.get(key, ()))

    def in_flight(self, key: str) -> int:
        return self._held.get(key, 0)

    async def acquire(self, endpoints: Sequence[str], avoid: str | None = None) -> Lease:
        """A slot on one of `endpoints` (the one with most room, `avoid` last), waiting for a fair turn."""
        share = _SHARE.get()
        for url in endpoints:
            self.gate(url)
        future = asyncio.get_running_loop().create_future()
        self._weights[share.key] = share.weight
        self._waiting.setdefault(share.key, deque()).append(_Waiter(future, frozenset(endpoints), avoid))
        self._dispatch()
        try:
            return await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():  # a slot was handed over as the caller was cancelled
                self.release(future.result(), CANCELLED)
            raise

    def release(self, lease: Lease, outcome: Outcome) -> None:
        gate, now = lease.gate, time.monotonic()
        was_full = gate.in_flight >= gate.limit.allowed
        gate.in_flight -= 1
        key = lease.share.key
        self._held[key] -= 1
        if not self._held[key] and key not in self._waiting:  # a finished job leaves nothing behind
            del self._held[key], self._weights[key]
        if outcome.kind == "ok":
            gate.failures_in_row, gate.served = 0, gate.served + 1
            gate.paused_until = min(gate.paused_until, now)  # it answered: whatever pause it had is over
            gate.limit.on_success(now - lease.started, outcome.tokens, was_full=was_full)
        elif outcome.kind == "refused":
            self._pause(gate, now, outcome.retry_after_s)
        self._dispatch()

    def _pause(self, gate: Gate, now: float, retry_after_s: float | None) -> None:
        gate.limit.on_refusal()
        gate.failures_in_row += 1
        if retry_after_s is not None:
            pause = retry_after_s * (1 + jittered(RETRY_AFTER_JITTER))
        else:
            backoff = min(FAILURE_PAUSE_S * 2 ** (gate.failures_in_row - 1), MAX_FAILURE_PAUSE_S)
            pause = jittered(backoff)
        gate.paused_until = max(gate.paused_until, now + pause)

    def _dispatch(self) -> None:
        """Hand free slots to waiting requests, fairest first, until no slot or no waiter fits."""
        now = time.monotonic()
        while True:
            chosen = self._fairest(now)
            if chosen is None:
                break
            key, waiter, gate = chosen
            self._waiting[key].popleft()
            if not self._waiting[key]:
                del self._waiting[key]
            gate.in_flight += 1
            self._held[key] = self._held.get(key, 0) + 1
            share = Share(key, self._weights.get(key, 1))
            if gate.session is None:
                connector = aiohttp.TCPConnector(limit=0, ssl=self._tls, keepalive_timeout=30)
                gate.session = aiohttp.ClientSession(connector=connector, timeout=self._timeout)
            waiter.future.set_result(Lease(gate, share, time.monotonic()))
        self._wake_at_next_pause_end(now)

    def _fairest(self, now: float) -> tuple[str, _Waiter, Gate] | None:
        best: tuple[float, str, _Waiter, Gate] | None = None
        for key, queue in list(self._waiting.items()):
            while queue and queue[0].future.done():  # its caller was cancelled
                queue.popleft()
            if not queue:
                del self._waiting[key]
                continue
            usage = self._held.get(key, 0) / self._weights.get(key, 1)
            if best is not None and usage >= best[0]:
                continue
            gate = self._roomiest(queue[0], now)
            if gate is not None:
                best = (usage, key, queue[0], gate)
        return None if best is None else best[1:]

    def _roomiest(self, waiter: _Waiter, now: float) -> Gate | None:
        gates = [self.gates[url] for url in waiter.endpoints]
        open_gates = [g for g in gates if g.room(now) > 0]
        if not open_gates:
            return None
        return max(open_gates, key=lambda g: (g.url != waiter.avoid, g.room(now) / g.limit.allowed, g.room(now)))

    def _wake_at_next_pause_end(self, now: float) -> None:
        """Waiters held back only by pauses are dispatched when the first pause ends."""
        if not self._waiting:
            return
        ends = [g.paused_until for g in self.gates.values() if g.paused_until > now]
        if not ends:
            return
        if self._wakeup is not None:
            self._wakeup.cancel()
        delay = min(ends) - now
        self._wakeup = asyncio.get_running_loop().call_later(delay + 0.001, self._dispatch)

    def snapshot(self) -> list[EndpointLoad]:
        """Per endpoint: its limit, requests in flight, seconds of pause left, requests served (URL redacted)."""
        now = time.monotonic()
        return [
            EndpointLoad(endpoint=redact_url(g.url), limit=g.limit.allowed, in_flight=g.in_flight, served=g.served,
                         paused_s=round(max(g.paused_until - now, 0.0), 3))
            for g in self.gates.values()
        ]  # fmt: skip

    async def aclose(self) -> None:
        if self._wakeup is not None:
            self._wakeup.cancel()
        for gate in self.gates.values():
            if gate.session is not None:
                await gate.session.close()
