"""The simulated endpoints over real HTTP: the latency model as served, 429s, stats, and the engine's parsing.

Timings are checked as lower bounds only (a sleep never ends early; a busy machine only adds time).
"""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import msgspec

from domain.job_spec import JudgeConfig, Sampling
from generators.engine import OpenAICompletionsEngine
from generators.judge import JudgeItem, judge_instances
from tests.simfleet import SimFleet
from tests.simfleet.profiles import FAST

# One stream at 26 tokens/s: a 26-token answer takes 1 s alone, 2 s while another shares the batch.
ONE_SEAT = msgspec.structs.replace(FAST, ttft_s=0.0, decode_tokens_per_s=26.0, batch_capacity=1, max_queue=1,
                                   retry_after_s=3, chunk_tokens=1)  # fmt: skip
CHUNK_S = 2 / 26  # one chunk (one word: at most 2 tokens) at full rate
TWENTY_WORDS = {"prompt": "Say something useful.", "max_tokens": 26, "stream": False}


def timed_post(url: str) -> tuple[float, dict]:
    started = time.monotonic()
    answer = httpx.post(f"{url}/v1/completions", json=TWENTY_WORDS, timeout=30)
    return time.monotonic() - started, answer.json()


def test_the_batch_slows_down_past_capacity_and_answers_429_past_the_queue() -> None:
    with SimFleet(ONE_SEAT) as fleet, ThreadPoolExecutor(2) as pool:
        url = fleet.urls[0]
        alone, body = timed_post(url)
        assert alone >= 1.0 and body["choices"][0]["finish_reason"] == "length"
        assert body["usage"]["completion_tokens"] == 26 and len(body["choices"][0]["text"].split()) == 20
        httpx.post(f"{url}/sim/reset")
        started = time.monotonic()
        pair = [pool.submit(timed_post, url) for _ in range(2)]
        while fleet.stats()[0]["open"] < 2:
            time.sleep(0.01)
        refused = httpx.post(f"{url}/v1/completions", json=TWENTY_WORDS, timeout=30)
        assert (refused.status_code, refused.headers["retry-after"]) == (429, "3")
        assert all(f.result()[1]["usage"]["completion_tokens"] == 26 for f in pair)
        # Open together, the two streams share the one seat: 52 tokens at a capacity of 26 tokens/s take 2 s,
        # where two streams at full rate would have ended in about 1. (Less one chunk: a stream's rate is read
        # when its chunk starts, so a stream that joins mid-chunk overlaps it by at most 2 tokens, 0.08 s.)
        assert time.monotonic() - started >= 2.0 - CHUNK_S
        stats = fleet.stats()[0]
        assert (stats["requests"], stats["completed"], stats["rejected_429"], stats["peak_open"]) == (3, 2, 1, 2)
        assert stats["tokens_out"] == 52 and stats["capacity_tokens_per_s"] == 26.0
        assert 2.0 - CHUNK_S <= stats["busy_s"] <= stats["elapsed_s"]


def test_profiles_change_over_http_and_unknown_routes_are_404() -> None:
    with SimFleet(FAST, endpoints=2, seed=4) as fleet:
        assert fleet.capacity_tokens_per_s == 2 * FAST.capacity_tokens_per_s
        changed = httpx.post(f"{fleet.urls[1]}/sim/profile", json={"max_queue": 0, "batch_capacity": 3})
        assert (changed.json()["max_queue"], fleet.endpoints[1].profile.max_open) == (0, 3)
        assert httpx.post(f"{fleet.urls[1]}/sim/profile", json={"batch_capacity": 0}).status_code == 400
        assert httpx.get(f"{fleet.urls[0]}/v1/v1/models").status_code == 404  # as vLLM answers a doubled /v1
        assert httpx.get(f"{fleet.urls[0]}/v1/models").json()["data"][0]["id"] == FAST.model


async def _engine_calls(urls: list[str]) -> tuple[list, list]:
    engine = OpenAICompletionsEngine(urls, FAST.model)
    try:
        listed = await engine.complete(["Here is a list of tasks.\nTask 1: Write a poem.\nTask 2:"] * 8,
                                       sampling=Sampling(max_tokens=64), stop=["\n\n"])  # fmt: skip
        items = [JudgeItem(instruction="List three fruits.", output="Apple, pear, plum.")] * 4
        judged = await judge_instances(engine, items, JudgeConfig(), seed=1)
    finally:
        await engine.aclose()
    return listed, judged


def test_the_engine_reads_streamed_answers_usage_and_the_judges_logprobs() -> None:
    with SimFleet(FAST, endpoints=2) as fleet:
        listed, judged = asyncio.run(_engine_calls(fleet.urls))
        stats = fleet.stats()
    assert all(c.finish_reason in ("stop", "length") and c.text.strip() for c in listed)
    assert 0 < sum(c.completion_tokens for c in listed) < sum(s["tokens_out"] for s in stats)  # + the judge's
    assert all(s["requests"] > 0 for s in stats)  # both endpoints served
    for judgement in judged:
        assert (judgement.outcome, judgement.method) == ("scored", "logprob_weighted")
        assert judgement.scale_mass == 1.0 and 1 <= judgement.score <= 5
