"""A simulated fleet: OpenAI-compatible completion servers on 127.0.0.1 with a latency model (SIMULATED).

Each endpoint is a plain ASGI app served by uvicorn on its own port (the service's endpoints are base
URLs), all of a fleet's endpoints on one event loop in one background thread:

    with SimFleet("h200-8b", endpoints=4) as fleet:
        fleet.urls  # ["http://127.0.0.1:PORT", ...]

Routes, per endpoint: `GET /v1/models`; `POST /v1/completions` (prompt, max_tokens, stop, stream,
logprobs, seed; the rest is accepted and ignored), streamed as server-sent events with a final usage
event as vLLM sends them, or one JSON body; `GET /sim/stats` (counters since start or the last reset);
`POST /sim/reset`; `POST /sim/profile` (a JSON object of `Profile` fields to change, e.g. `max_queue`).
The latency model and the sources of its figures are in `tests.simfleet.profiles`; answers come from
`tests.simfleet.texts`, from an RNG seeded by the fleet's seed, the endpoint and the request's number
(or the request's own `seed`), so a run is varied and repeatable.
"""

from __future__ import annotations

import asyncio
import json
import random
import socket
import threading
import time
from collections.abc import Sequence

import msgspec
import uvicorn

from tests.simfleet import texts
from tests.simfleet.profiles import (
    PROFILES,
    TOKENS_PER_WORD,
    Profile,
    admits,
    first_token_s,
    stream_rate,
    tokens_of,
)

_JSON = [(b"content-type", b"application/json")]
_DIGITS = frozenset("12345")
_SSE = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]


class Stats(msgspec.Struct, kw_only=True):
    requests: int = 0  # completion requests received, 429s included
    completed: int = 0
    rejected_429: int = 0
    prompt_tokens: int = 0
    tokens_out: int = 0
    busy_s: float = 0.0  # time with at least one request open
    peak_open: int = 0
    since: float = msgspec.field(default_factory=time.monotonic)


class Endpoint:
    """One simulated server: its profile, its open requests, its counters."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile, self.seed = profile, seed
        self.open = 0
        self.stats = Stats()
        self._busy_from = 0.0
        self._numbers = 0

    def snapshot(self) -> dict:
        now = time.monotonic()
        busy = self.stats.busy_s + (now - self._busy_from if self.open else 0.0)
        counters = msgspec.structs.asdict(self.stats) | {"busy_s": busy, "elapsed_s": now - self.stats.since}
        return counters | {"open": self.open, "profile": self.profile.name,
                           "capacity_tokens_per_s": self.profile.capacity_tokens_per_s}  # fmt: skip

    def reset(self) -> None:
        self.stats = Stats(peak_open=self.open)
        self._busy_from = self.stats.since

    def _enter(self) -> None:
        if self.open == 0:
            self._busy_from = time.monotonic()
        self.open += 1
        self.stats.peak_open = max(self.stats.peak_open, self.open)

    def _leave(self) -> None:
        self.open -= 1
        if self.open == 0:
            self.stats.busy_s += time.monotonic() - max(self._busy_from, self.stats.since)

    async def __call__(self, scope: dict, receive, send) -> None:
        if scope["type"] != "http":
            return
        route = (scope["method"], scope["path"])
        if route == ("GET", "/v1/models"):
            await _json(send, 200, {"object": "list", "data": [{"id": self.profile.model, "object": "model"}]})
        elif route == ("GET", "/sim/stats"):
            await _json(send, 200, self.snapshot())
        elif route == ("POST", "/sim/reset"):
            self.reset()
            await _json(send, 200, self.snapshot())
        elif route == ("POST", "/sim/profile"):
            await self._set_profile(await _body(receive), send)
        elif route == ("POST", "/v1/completions"):
            await self._complete(await _body(receive), send)
        else:
            await _json(send, 404, {"error": {"message": f"no route {scope['path']}", "code": 404}})

    async def _set_profile(self, raw: bytes, send) -> None:
        try:
            changes = json.loads(raw)
            fields = msgspec.structs.asdict(self.profile) | changes
            self.profile = msgspec.convert(fields, Profile)
        except (ValueError, TypeError, msgspec.ValidationError) as exc:
            await _json(send, 400, {"error": {"message": str(exc), "code": 400}})
            return
        await _json(send, 200, msgspec.structs.asdict(self.profile))

    async def _complete(self, raw: bytes, send) -> None:
        self.stats.requests += 1
        try:
            body = json.loads(raw)
            prompt, max_tokens = body["prompt"], int(body.get("max_tokens") or 16)
            if not isinstance(prompt, str):
                raise TypeError("prompt must be one string")
        except (ValueError, KeyError, TypeError) as exc:
            await _json(send, 400, {"error": {"message": f"bad request: {exc}", "code": 400}})
            return
        if not admits(self.profile, self.open):
            self.stats.rejected_429 += 1
            retry = [(b"retry-after", str(self.profile.retry_after_s).encode())]
            await _json(send, 429, {"error": {"message": "the server is full", "code": 429}}, retry)
            return
        self._numbers += 1
        seed = body.get("seed")
        rng = random.Random(f"{self.seed}:{seed}" if seed is not None else f"{self.seed}:{self._numbers}")
        pieces, reason = texts.finish(texts.answer(prompt, rng), list(body.get("stop") or ()), max_tokens)
        prompt_tokens = tokens_of(len(prompt.split()))
        self._enter()
        try:
            self.stats.prompt_tokens += prompt_tokens
            await asyncio.sleep(first_token_s(self.profile, prompt_tokens))
            if body.get("stream"):
                await self._stream(send, pieces, reason, prompt_tokens, body.get("logprobs"))
            else:
                await self._whole(send, pieces, reason, prompt_tokens, body.get("logprobs"))
            self.stats.completed += 1
        finally:
            self._leave()

    async def _paced(self, pieces: list[str]):
        """The answer's chunks, each when the batch's rate at that moment would have decoded it."""
        step = max(1, int(self.profile.chunk_tokens / TOKENS_PER_WORD))
        for start in range(0, len(pieces), step):
            chunk = pieces[start : start + step]
            tokens = tokens_of(start + len(chunk)) - tokens_of(start)  # chunks add up to the answer's tokens
            await asyncio.sleep(tokens / stream_rate(self.profile, self.open))
            self.stats.tokens_out += tokens
            yield chunk, start + step >= len(pieces)

    async def _stream(self, send, pieces: list[str], reason: str, prompt_tokens: int, logprobs) -> None:
        await send({"type": "http.response.start", "status": 200, "headers": _SSE})
        async for chunk, last in self._paced(pieces):
            await _event(send, _choice(chunk, reason if last else None, logprobs))
        if not pieces:
            await _event(send, _choice([], reason, logprobs))
        usage = _usage(prompt_tokens, tokens_of(len(pieces)))
        await _event(send, {"object": "text_completion", "model": self.profile.model, "choices": [], "usage": usage})
        await send({"type": "http.response.body", "body": b"data: [DONE]\n\n", "more_body": False})

    async def _whole(self, send, pieces: list[str], reason: str, prompt_tokens: int, logprobs) -> None:
        async for _ in self._paced(pieces):
            pass
        choice = _choice(pieces, reason, logprobs)
        usage = _usage(prompt_tokens, tokens_of(len(pieces)))
        body = {"object": "text_completion", "model": self.profile.model, "choices": [choice], "usage": usage}
        await _json(send, 200, body)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


def _choice(pieces: list[str], reason: str | None, logprobs) -> dict:
    choice = {"index": 0, "text": "".join(pieces), "finish_reason": reason}
    if logprobs is not None:
        choice["logprobs"] = _logprobs(pieces)
    return choice


def _logprobs(pieces: list[str]) -> dict:
    """The legacy completions shape, one entry per piece; a score digit gets a spread over the scale."""
    tops = [texts.score_logprobs(p.strip()) if p.strip() in _DIGITS else {p: -0.05} for p in pieces]
    return {"tokens": list(pieces), "token_logprobs": [top.get(p, -0.05) for top, p in zip(tops, pieces, strict=True)],
            "top_logprobs": tops, "text_offset": [0] * len(pieces)}  # fmt: skip


async def _event(send, payload: dict) -> None:
    if "choices" not in payload:
        payload = {"object": "text_completion", "choices": [payload]}
    data = b"data: " + json.dumps(payload).encode() + b"\n\n"
    await send({"type": "http.response.body", "body": data, "more_body": True})


async def _body(receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _json(send, status: int, payload: dict, headers: list | None = None) -> None:
    data = json.dumps(payload).encode()
    await send({"type": "http.response.start", "status": status, "headers": _JSON + (headers or [])})
    await send({"type": "http.response.body", "body": data})


class SimFleet:
    """N simulated endpoints serving on a background thread while the block runs (see the module doc)."""

    def __init__(self, profile: Profile | str | Sequence[Profile], endpoints: int = 1, *, seed: int = 0) -> None:
        if isinstance(profile, str):
            profile = PROFILES[profile]
        profiles = [profile] * endpoints if isinstance(profile, Profile) else list(profile)
        self.endpoints = [Endpoint(p, seed * 1000 + n) for n, p in enumerate(profiles)]
        self._sockets = [_bound_socket() for _ in self.endpoints]
        self.urls = [f"http://127.0.0.1:{s.getsockname()[1]}" for s in self._sockets]
        self._servers: list[uvicorn.Server] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()

    def __enter__(self) -> SimFleet:
        self._thread = threading.Thread(target=self._run, name="simfleet", daemon=True)
        self._thread.start()
        if not self._started.wait(10) or not all(s.started for s in self._servers):
            self.__exit__(None, None, None)
            raise RuntimeError("the simulated fleet did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None:
            for server in self._servers:
                self._loop.call_soon_threadsafe(setattr, server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(15)
        for sock in self._sockets:
            sock.close()

    def stats(self) -> list[dict]:
        return [e.snapshot() for e in self.endpoints]

    def change(self, index: int, **fields: object) -> None:
        """Change one endpoint's profile while it serves (one attribute write: atomic for its event loop)."""
        endpoint = self.endpoints[index]
        endpoint.profile = msgspec.convert(msgspec.structs.asdict(endpoint.profile) | fields, Profile)

    @property
    def capacity_tokens_per_s(self) -> float:
        return sum(e.profile.capacity_tokens_per_s for e in self.endpoints)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        finally:
            loop.close()

    async def _serve(self) -> None:
        for endpoint in self.endpoints:
            config = uvicorn.Config(endpoint, log_level="warning", access_log=False, lifespan="off", http="httptools",
                                    timeout_graceful_shutdown=2, timeout_keep_alive=30)  # fmt: skip
            self._servers.append(uvicorn.Server(config))
        pairs = zip(self._servers, self._sockets, strict=True)
        serving = [asyncio.ensure_future(server.serve(sockets=[sock])) for server, sock in pairs]
        while not all(s.started for s in self._servers) and not any(t.done() for t in serving):
            await asyncio.sleep(0.01)
        self._started.set()
        await asyncio.gather(*serving, return_exceptions=True)


def _bound_socket() -> socket.socket:
    # IPPROTO_TCP named, and TCP_NODELAY set (accepted sockets inherit it on Linux): asyncio sets no-delay only
    # on sockets whose proto is IPPROTO_TCP, and without it each answer's last small write (the end of the
    # chunked body) waited ~40 ms for the client's delayed ACK (Nagle): 44 ms a request on an instant profile.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    return sock
