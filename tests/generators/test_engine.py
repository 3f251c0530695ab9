"""The OpenAI-compatible client against real misbehaving HTTP servers on 127.0.0.1."""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import anyio
import msgspec
import pytest

from domain.job_spec import Sampling
from generators.engine import EngineError, OpenAICompletionsEngine, discover_model, request_seed


class Events(msgspec.Struct, frozen=True):
    """A streamed answer: each item is sent as one server-sent event, `gap_s` apart."""

    items: list[dict | str]
    gap_s: float = 0.0


# (request number, body) -> (status, json), a stream of events, or None = hang
Behaviour = Callable[[int, dict], tuple[int, dict] | Events | None]


@contextmanager
def fake_server(behaviour: Behaviour) -> Iterator[tuple[str, list[dict]]]:
    seen: list[dict] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:  # keep test output quiet
            pass

        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            self._answer(200, {"data": [{"id": "fake-model"}]})

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["content-length"])))
            with lock:
                seen.append(body)
                number = len(seen)
            answer = behaviour(number, body)
            if answer is None:
                time.sleep(3)
                return
            if isinstance(answer, Events):
                self._stream(answer)
                return
            self._answer(*answer)

        def _stream(self, events: Events) -> None:
            self.send_response(200)
            self.send_header("content-type", "text/event-stream")
            self.end_headers()  # no length: the stream ends when the connection closes
            for item in events.items:
                time.sleep(events.gap_s)
                self.wfile.write(f"data: {item if isinstance(item, str) else json.dumps(item)}\n\n".encode())
                self.wfile.flush()
            self.close_connection = True

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def ok(text: str) -> tuple[int, dict]:
    return 200, {"choices": [{"text": text, "finish_reason": "stop"}], "usage": {"completion_tokens": 3}}


def self_instruct_script(tasks: list[str]) -> Behaviour:
    """Answers to self-instruct's three prompts: the next of `tasks` (in turn, shared by every server the
    behaviour is given to), "No" to classification, and one careful answer with no input for an instance."""
    counter = itertools.count()

    def scripted(_number: int, body: dict) -> tuple[int, dict]:
        prompt = body["prompt"].rstrip()
        if prompt.endswith("Classification:"):
            return ok(" No")
        if prompt.endswith("Input:"):
            return ok(" None\nOutput: A careful answer.")
        return ok(" " + tasks[next(counter) % len(tasks)])

    return scripted


def complete(engine: OpenAICompletionsEngine, prompts: list[str], **kwargs):
    async def run():
        try:
            return await engine.complete(prompts, sampling=Sampling(), stop=["\n"], **kwargs)
        finally:
            await engine.aclose()

    return anyio.run(run)


def test_answers_come_back_in_prompt_order_with_the_request_fields() -> None:
    with fake_server(lambda n, body: ok(body["prompt"].upper())) as (url, seen):
        results = complete(OpenAICompletionsEngine([url], "m", send_seed=True), ["a", "b", "c"], seed=10)
    assert [r.text for r in results] == ["A", "B", "C"]
    assert all(r.finish_reason == "stop" and r.completion_tokens == 3 for r in results)
    request = next(s for s in seen if s["prompt"] == "b")
    assert (request["model"], request["stop"], request["seed"], request["temperature"]) == (
        "m", ["\n"], 10 * 65_536 + 1, 0.7)  # fmt: skip


def test_request_seeds_of_consecutive_calls_never_meet() -> None:
    """Rounds pass consecutive seeds: `seed + n` made round r's prompt n+1 round r+1's prompt n."""
    seeds = [request_seed(seed, n) for seed in range(3_000_000_000, 3_000_000_100) for n in range(512)]
    assert len(set(seeds)) == len(seeds) and all(0 <= s < 2**63 for s in seeds)


def test_seeds_are_sent_only_when_asked() -> None:
    with fake_server(lambda n, body: ok("x")) as (url, seen):
        complete(OpenAICompletionsEngine([url], "m"), ["a"], seed=10)
    assert "seed" not in seen[0]


def test_server_errors_are_retried_with_backoff() -> None:
    with fake_server(lambda n, body: (503, {}) if n <= 2 else ok("fine")) as (url, seen):
        [result] = complete(OpenAICompletionsEngine([url], "m", retries=3, backoff_s=0.01), ["x"])
    assert result.text == "fine" and len(seen) == 3


def test_a_dead_endpoint_is_routed_around() -> None:
    with fake_server(lambda n, body: ok("alive")) as (url, seen):
        engine = OpenAICompletionsEngine(["http://127.0.0.1:9", url], "m", retries=2, backoff_s=0.01)
        results = complete(engine, ["p1", "p2", "p3", "p4"])
    assert [r.text for r in results] == ["alive"] * 4


def test_timeouts_and_exhausted_retries_give_an_error_completion() -> None:
    with fake_server(lambda n, body: None) as (url, _):
        engine = OpenAICompletionsEngine([url], "m", retries=1, backoff_s=0.01, timeout_s=0.3)
        started = time.monotonic()
        [result] = complete(engine, ["x"])
    assert result.finish_reason == "error" and "Timeout" in result.error
    assert time.monotonic() - started < 3


def test_malformed_answers_are_retried() -> None:
    with fake_server(lambda n, body: (200, {"choices": []}) if n == 1 else ok("good")) as (url, seen):
        [result] = complete(OpenAICompletionsEngine([url], "m", backoff_s=0.01), ["x"])
    assert result.text == "good" and len(seen) == 2


def test_a_refused_request_is_not_retried() -> None:
    with fake_server(lambda n, body: (400, {"error": "bad model"})) as (url, seen):
        with pytest.raises(EngineError, match="400"):
            complete(OpenAICompletionsEngine([url], "m", backoff_s=0.01), ["x"])
    assert len(seen) == 1


def test_concurrency_per_endpoint_is_bounded() -> None:
    active, peak, lock = [0], [0], threading.Lock()

    def slow(n: int, body: dict) -> tuple[int, dict]:
        with lock:
            active[0] += 1
            peak[0] = max(peak[0], active[0])
        time.sleep(0.05)
        with lock:
            active[0] -= 1
        return ok("x")

    with fake_server(slow) as (url, _):
        complete(OpenAICompletionsEngine([url], "m", concurrency_per_endpoint=3), [str(n) for n in range(12)])
    assert peak[0] <= 3


def test_discover_model() -> None:
    with fake_server(lambda n, body: ok("")) as (url, _):
        assert anyio.run(discover_model, url) == "fake-model"


def token(text: str, finish: str | None = None, logprob: float = -0.1) -> dict:
    lp = {"tokens": [text], "token_logprobs": [logprob], "top_logprobs": [{text: logprob, "?": -3.0}]}
    return {"choices": [{"text": text, "finish_reason": finish, "logprobs": lp}]}


USAGE = {"choices": [], "usage": {"completion_tokens": 3}}


def test_a_streamed_answer_is_joined_with_its_logprobs_and_usage() -> None:
    events = Events([token("Sc"), token("ore"), token(": 4", "stop"), USAGE, "[DONE]"])
    with fake_server(lambda n, body: events) as (url, seen):
        [result] = complete(OpenAICompletionsEngine([url], "m"), ["x"], logprobs=2)
    assert (result.text, result.finish_reason, result.completion_tokens) == ("Score: 4", "stop", 3)
    assert [t.token for t in result.logprobs] == ["Sc", "ore", ": 4"] and result.logprobs[2].top["?"] == -3.0
    assert seen[0]["stream"] is True and seen[0]["logprobs"] == 2


def test_a_slow_stream_that_keeps_sending_does_not_time_out() -> None:
    """The timeout is one of progress: 8 tokens 0.2 s apart take 1.6 s, far over the 0.5 s timeout."""
    events = Events([*(token("a") for _ in range(7)), token("b", "length"), "[DONE]"], gap_s=0.2)
    with fake_server(lambda n, body: events) as (url, seen):
        [result] = complete(OpenAICompletionsEngine([url], "m", timeout_s=0.5, retries=0), ["x"])
    assert (result.text, result.finish_reason, len(seen)) == ("aaaaaaab", "length", 1)


def test_a_stream_that_stalls_times_out() -> None:
    events = Events([token("a"), token("b", "stop")], gap_s=1.5)
    with fake_server(lambda n, body: events) as (url, _):
        [result] = complete(OpenAICompletionsEngine([url], "m", timeout_s=0.5, retries=0), ["x"])
    assert result.finish_reason == "error" and "Timeout" in result.error


@pytest.mark.parametrize(
    "broken",
    [[token("half")], [token("a"), {"error": {"message": "engine died"}}, "[DONE]"], ["not json"]],
    ids=["ends before its finish reason", "an error event", "a line that is not JSON"],
)
def test_a_broken_stream_is_retried(broken: list) -> None:
    answers = {1: Events(broken), 2: Events([token("whole", "stop"), "[DONE]"])}
    with fake_server(lambda n, body: answers[n]) as (url, seen):
        [result] = complete(OpenAICompletionsEngine([url], "m", backoff_s=0.01), ["x"])
    assert (result.text, len(seen)) == ("whole", 2)
