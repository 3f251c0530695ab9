"""Latency profiles of simulated completion servers, and the arithmetic of the latency model.

The model, per endpoint (every figure a `Profile` field):
- a request is admitted while fewer than `batch_capacity + max_queue` requests are open; past that the
  endpoint answers 429 with `Retry-After: retry_after_s` (vLLM itself queues without limit; a gateway in
  front of it, or a server run with a bounded queue, answers 429 like this);
- an admitted request waits its time to first token: `ttft_s + prompt_tokens / prefill_tokens_per_s`
  (prefill is not slowed by the batch here: a simplification, prompts of self-instruct are short);
- then it decodes at `decode_tokens_per_s` while at most `batch_capacity` requests are open; beyond that
  the batch shares the GPU and every stream's rate scales by `batch_capacity / open`, so the endpoint's
  output never exceeds `capacity_tokens_per_s = batch_capacity * decode_tokens_per_s` (the rate is read
  when each chunk starts, so a stream that joins mid-chunk overlaps the chunks under way by at most one
  chunk each: the cost of chunking coarsely);
- tokens are counted as words * 1.3 (`tokens_of`), the usual rule of thumb for English and Llama-3's
  tokenizer, and streamed `chunk_tokens` at a time (coarse, so the simulator itself stays cheap).

The two GPU profiles (both SIMULATED, none measured on a GPU by this project):

h200-8b: one H200 (141 GB HBM3e, 4.8 TB/s) serving Llama-3.1-8B-Instruct with vLLM.
- Published anchor: NVIDIA NIM LLM benchmarking, "Performance", Llama-3.1-8b-instruct, NIM 1.8.0
  (https://docs.nvidia.com/nim/benchmarking/llm/1.0.0/performance): at concurrency 1, TTFT 10.26 ms and
  inter-token latency 4.63 ms; at 100, 12,215 output tokens/s (ITL 7.57 ms); at 150, 12,989; at 200,
  13,348; at 250, 12,965: the server saturates near 13,000 tokens/s from about 150 streams on. That table
  is on H100-class hardware (the page's 70B table names 2 x H100 80G fp8; the 8B table's GPU line was not
  in the excerpt we could read, so read it as H100). A third-party page (morphllm.com, "vLLM
  Benchmarks") gives ~12,500 tokens/s for Llama 3.1 8B BF16 on 1 x H100 with vLLM: the same level.
- Derived for the H200: decode is memory-bound, so scaled by the bandwidth ratio 4.8 / 3.35 TB/s = 1.43:
  13,000 * 1.43 = ~18,600 tokens/s; the H200's larger memory (141 vs 80 GB) holds more KV cache, so the
  knee moves up from ~150 to ~192 streams. Profile: 192 streams * 96 tokens/s = 18,432 tokens/s.
  TTFT 15 ms (published 10 ms at concurrency 1, plus a margin for the HTTP hop); prefill 30,000 tokens/s
  (derived: 16 GFLOP per token for 8B parameters at ~50% of the H100/H200's 989 dense BF16 TFLOPS).

h200-1b: one H200 serving Llama-3.2-1B-Instruct with vLLM. No published vLLM throughput table for a
1B model on H100/H200 was found; all of this is DERIVED from memory bandwidth, relative to the 8B:
- weights 2.5 GB vs 16 GB (BF16) and KV cache 32 KiB vs 128 KiB per token (16 layers x 8 KV heads x 64
  dims vs 32 x 8 x 128, K and V, 2 bytes): a decode step at 512 streams of ~1,000 tokens of context reads
  ~19 GB against the 8B's ~41 GB at 192 streams, so ~3.5x the 8B's tokens/s at the same efficiency:
  ~65,000 tokens/s. Profile: 512 streams * 128 tokens/s = 65,536 tokens/s. Per-stream rate and TTFT are
  bounded by kernel launches rather than bandwidth at this size: 128 tokens/s (7.8 ms/token) under full
  load, TTFT 10 ms, prefill 200,000 tokens/s (2.5 GFLOP per token at ~50% of 989 TFLOPS).

`max_queue` (how many open requests past the batch before 429) is a choice, not a published figure.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
from msgspec import Meta

TOKENS_PER_WORD = 1.3


class Profile(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    name: str
    model: str  # what /v1/models lists
    ttft_s: Annotated[float, Meta(ge=0)]
    prefill_tokens_per_s: Annotated[float, Meta(gt=0)]
    decode_tokens_per_s: Annotated[float, Meta(gt=0)]  # per stream, while the batch is within capacity
    batch_capacity: Annotated[int, Meta(ge=1)]
    max_queue: Annotated[int, Meta(ge=0)]  # open requests allowed past the batch before 429
    retry_after_s: Annotated[int, Meta(ge=0)] = 1  # Retry-After is whole seconds (RFC 9110)
    chunk_tokens: Annotated[int, Meta(ge=1)] = 16
    refuse_all: bool = False  # every completion is a 429 with Retry-After (a full or draining server)

    @property
    def capacity_tokens_per_s(self) -> float:
        return self.batch_capacity * self.decode_tokens_per_s

    @property
    def max_open(self) -> int:
        return self.batch_capacity + self.max_queue


def tokens_of(words: int) -> int:
    """Tokens for a number of words (the 1.3 rule); 0 words are 0 tokens."""
    return math.ceil(words * TOKENS_PER_WORD)


def words_within(max_tokens: int) -> int:
    """The most words whose tokens fit in `max_tokens`."""
    words = int(max_tokens / TOKENS_PER_WORD)
    while tokens_of(words + 1) <= max_tokens:
        words += 1
    while words and tokens_of(words) > max_tokens:
        words -= 1
    return words


def admits(profile: Profile, open_requests: int) -> bool:
    """Whether a new request is admitted while `open_requests` are open (else 429)."""
    return not profile.refuse_all and open_requests < profile.max_open


def first_token_s(profile: Profile, prompt_tokens: int) -> float:
    return profile.ttft_s + prompt_tokens / profile.prefill_tokens_per_s


def stream_rate(profile: Profile, open_requests: int) -> float:
    """Tokens/s of one stream while `open_requests` (itself included) are open."""
    return profile.decode_tokens_per_s * min(1.0, profile.batch_capacity / max(open_requests, 1))


H200_8B = Profile(
    name="h200-8b", model="meta-llama/Llama-3.1-8B-Instruct", ttft_s=0.015, prefill_tokens_per_s=30_000,
    decode_tokens_per_s=96, batch_capacity=192, max_queue=768,
)  # fmt: skip
H200_1B = Profile(
    name="h200-1b", model="meta-llama/Llama-3.2-1B-Instruct", ttft_s=0.010, prefill_tokens_per_s=200_000,
    decode_tokens_per_s=128, batch_capacity=512, max_queue=2048,
)  # fmt: skip
# For tests: answers in tens of milliseconds, a small batch so slow-down and 429 are easy to reach.
FAST = Profile(
    name="fast", model="sim-fast", ttft_s=0.005, prefill_tokens_per_s=1_000_000, decode_tokens_per_s=2_000,
    batch_capacity=16, max_queue=48,
)  # fmt: skip
# For the coordinator's ceiling (bench/fleet_bench.py): answers as fast as the simulator can send them, so
# what limits accepted tasks/s is the service itself. Its capacity figure is meaningless (no utilisation).
INSTANT = Profile(
    name="instant", model="sim-instant", ttft_s=0.0, prefill_tokens_per_s=1e12, decode_tokens_per_s=1e9,
    batch_capacity=4096, max_queue=4096, chunk_tokens=64,
)  # fmt: skip
PROFILES = {p.name: p for p in (H200_8B, H200_1B, FAST, INSTANT)}
