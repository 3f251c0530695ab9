"""Log-probabilities through the engine seam (vLLM 0.32's completions shape), and the judge on the real engine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import anyio

from domain.job_spec import JudgeConfig
from generators.engine import OpenAICompletionsEngine, Sampling, TokenLogprobs
from generators.judge import JudgeItem, judge_instances, judge_labels
from generators.model import DEFAULT_SERVED_NAME
from generators.vllm_server import VLLMServer
from tests.generators.test_engine import fake_server

# A /v1/completions answer exactly as vLLM 0.32 sent it for `logprobs: 5` (CompletionResponseChoice with
# CompletionLogProbs: parallel lists, top_logprobs keyed by decoded token text, the stop token included).
VLLM_PAYLOAD = {
    "id": "cmpl-8332658765fbdebd", "object": "text_completion", "created": 1796092494,
    "model": "smollm2-135m-instruct",
    "choices": [{
        "index": 0, "text": " 10",
        "logprobs": {
            "text_offset": [0, 1, 2, 3],
            "token_logprobs": [-0.0068268864415585995, -1.745903730392456, -0.9172515869140625, -0.4491923451423645],
            "tokens": [" ", "1", "0", "\n"],
            "top_logprobs": [
                {" ": -0.0068268864415585995, " -": -6.506826877593994, "  ": -7.631826877593994,
                 " A": -8.006827354431152, " None": -8.194327354431152},
                {"1": -1.745903730392456, "5": -1.995903730392456, "2": -1.995903730392456,
                 "4": -2.245903730392456, "3": -2.245903730392456},
                {"0": -0.9172515869140625, "\n": -1.2922515869140625, "1": -2.7922515869140625,
                 "5": -2.9172515869140625, "2": -2.9172515869140625},
                {"\n": -0.4491923451423645, "0": -1.8241922855377197, "<|im_end|>": -2.9491922855377197,
                 " ": -3.3241922855377197, "\n\n": -4.324192523956299},
            ],
        },
        "finish_reason": "stop", "stop_reason": "\n", "token_ids": None, "prompt_logprobs": None,
        "prompt_token_ids": None, "routed_experts": None,
    }],
    "service_tier": None, "system_fingerprint": "vllm-0.32.0-b3bfc6c2",
    "usage": {"prompt_tokens": 34, "total_tokens": 38, "completion_tokens": 4, "prompt_tokens_details": None,
              "completion_tokens_details": None},
    "kv_transfer_params": None, "ec_transfer_params": None, "metrics": None,
}  # fmt: skip


@contextlib.contextmanager
def mock_engine(answer, seen: list[dict], **kwargs) -> Iterator[OpenAICompletionsEngine]:
    """An engine on a local server that answers each request (JSON, whole) with `answer(its number)`."""

    def behaviour(number: int, body: dict) -> tuple[int, dict]:
        seen.append(body)
        return 200, answer(number)

    with fake_server(behaviour) as (url, _):
        yield OpenAICompletionsEngine([url], "m", **kwargs)


def complete(engine: OpenAICompletionsEngine, **kwargs):
    async def run():
        try:
            return await engine.complete(["p"], sampling=Sampling(temperature=0.0), stop=["\n"], **kwargs)
        finally:
            await engine.aclose()

    return anyio.run(run)


def test_logprobs_are_asked_for_and_parsed_from_the_vllm_shape() -> None:
    seen: list[dict] = []
    with mock_engine(lambda n: VLLM_PAYLOAD, seen) as engine:
        [result] = complete(engine, logprobs=5)
    assert seen[0]["logprobs"] == 5
    assert (result.text, result.finish_reason, result.completion_tokens) == (" 10", "stop", 4)
    assert [t.token for t in result.logprobs] == [" ", "1", "0", "\n"]
    assert result.logprobs[1] == TokenLogprobs(
        token="1", logprob=-1.745903730392456,
        top={"1": -1.745903730392456, "5": -1.995903730392456, "2": -1.995903730392456, "4": -2.245903730392456,
             "3": -2.245903730392456},
    )  # fmt: skip


def test_without_logprobs_nothing_changes() -> None:
    seen: list[dict] = []
    plain = {"choices": [{"text": "x", "finish_reason": "stop"}], "usage": {"completion_tokens": 1}}
    with mock_engine(lambda n: plain, seen) as engine:
        [result] = complete(engine)
    assert "logprobs" not in seen[0]
    assert result.logprobs is None and result.text == "x"


def test_a_null_top_entry_becomes_empty_and_malformed_logprobs_are_retried() -> None:
    bad = {"choices": [{"text": "4", "finish_reason": "stop", "logprobs": {"tokens": ["4"], "token_logprobs": [],
                                                                          "top_logprobs": [None]}}]}  # fmt: skip
    good = {"choices": [{"text": "4", "finish_reason": "stop", "logprobs": {"tokens": ["4"], "token_logprobs": [None],
                                                                           "top_logprobs": [None]}}]}  # fmt: skip
    seen: list[dict] = []
    with mock_engine(lambda n: bad if n == 1 else good, seen, backoff_s=0.01) as engine:
        [result] = complete(engine, logprobs=3)
    assert len(seen) == 2
    assert result.logprobs == (TokenLogprobs(token="4", logprob=None, top={}),)


def test_vllm_returns_top_logprobs_on_this_machine(vllm_server: VLLMServer) -> None:
    engine = OpenAICompletionsEngine([vllm_server.base_url], DEFAULT_SERVED_NAME, timeout_s=300)
    prompt = "Question: What is 2 + 2?\nAnswer: 4\n\nQuestion: What is 1 + 2?\nAnswer:"
    [result] = complete_on(engine, prompt)
    assert result.finish_reason in ("stop", "length")
    assert result.logprobs and len(result.logprobs) == result.completion_tokens
    first = result.logprobs[0]
    assert 3 <= len(first.top) <= 4  # the top 3, plus the sampled token when it is not among them
    assert first.token in first.top and first.logprob == max(first.top.values())  # greedy: the likeliest
    assert all(lp <= 0 for lp in first.top.values())


def complete_on(engine: OpenAICompletionsEngine, prompt: str):
    async def run():
        try:
            return await engine.complete([prompt], sampling=Sampling(temperature=0.0, max_tokens=8), stop=["\n"],
                                         logprobs=3)  # fmt: skip
        finally:
            await engine.aclose()

    return anyio.run(run)


def test_the_judge_on_the_real_engine(vllm_server: VLLMServer) -> None:
    """A handful of items through the packaged model: every judgement readable or said unreadable, with its model,
    templates and probability-weighted scores on the scale; a label from the given categories."""
    items = [
        JudgeItem(instruction="What is the capital of France?", output="Paris is the capital of France."),
        JudgeItem(instruction="Add the two numbers.", input="7 and 5", output="blorp zint blorp zint"),
        JudgeItem(instruction="Write a haiku about autumn leaves.",
                  output="Red leaves drift and fall\nthe cold wind carries them home\nbare branches remain"),
    ]  # fmt: skip

    async def run():
        engine = OpenAICompletionsEngine([vllm_server.base_url], DEFAULT_SERVED_NAME, timeout_s=300)
        try:
            judged = await judge_instances(engine, items, JudgeConfig(enabled=True), seed=0)
            labels = await judge_labels(
                engine,
                ["Solve 3x = 12 for x."],
                ["math", "writing"],
                JudgeConfig(),
                0,
                examples=[("Add 4 and 9.", "math"), ("Write a limerick.", "writing")],
            )
            return judged, labels
        finally:
            await engine.aclose()

    judged, [label] = anyio.run(run)
    assert [j.outcome for j in judged] != ["unreadable"] * 3
    for judgement in judged:
        assert judgement.outcome in ("scored", "unreadable")
        assert (judgement.judge_model, judgement.template) == (
            DEFAULT_SERVED_NAME,
            "judge_instruction.v1+judge_answer.v1",
        )
        for criterion in judgement.readings:
            assert criterion.scale_mass is not None and 0 <= criterion.scale_mass <= 1.0001
            if criterion.method == "logprob_weighted":
                assert 1 <= criterion.score <= 5
        if judgement.outcome == "scored":
            assert judgement.score == min(judgement.criteria.values())
    assert label.outcome in ("scored", "unreadable") and label.category in ("math", "writing", None)
    assert label.category_mass is not None
