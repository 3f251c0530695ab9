"""The service's engine holder: starts the embedded vLLM server or connects to remote ones, and says how it is."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Literal

import anyio
import msgspec

from domain.endpoints import normal_endpoints
from domain.errors import ConflictError, InvalidInputError
from domain.job_spec import JobSpec, JudgeConfig
from domain.redaction import redact_text
from generators.engine import CompletionEngine, EngineError, OpenAICompletionsEngine, discover_model
from generators.fleet import Fleet
from service.settings import EngineSettings

log = logging.getLogger("instructforge.engine")
EngineStatus = Literal["not_configured", "starting", "ready", "failed"]
_MAX_RESTARTS = 5


class EngineFailedError(Exception):
    """The engine has failed for good (it is not starting any more): a job waiting on it cannot start."""


def check_engine_choice(spec: JobSpec, engine: EngineSettings) -> JobSpec:
    """Jobs need an engine; a job may narrow the configured endpoints, never add one (no SSRF).

    Returns the spec with its endpoints in normal form: a job may name either form of a configured endpoint.
    """
    if engine.kind == "none":
        raise ConflictError("this service runs without a generation engine", code="engine_not_configured")
    spec = _with_normal_endpoints(spec)
    if spec.endpoints is not None:
        unknown = sorted(set(spec.endpoints) - set(engine.endpoints))
        if engine.kind != "remote" or unknown or not spec.endpoints:
            raise InvalidInputError(
                f"endpoints must be a non-empty subset of the configured remote endpoints; unknown: {unknown}",
                code="unknown_endpoint",
            )
    if engine.kind == "embedded" and spec.model not in (None, engine.served_model_name):
        raise InvalidInputError(f"the embedded engine serves {engine.served_model_name!r} only", code="unknown_model")
    _check_judge_choice(spec.judge, engine)
    return spec


def _with_normal_endpoints(spec: JobSpec) -> JobSpec:
    """The job's and its judge's endpoints in normal form (`domain.endpoints`); what is no http(s) URL is a 400."""
    try:
        endpoints = None if spec.endpoints is None else list(normal_endpoints(spec.endpoints))
        judged_at = None if spec.judge.endpoints is None else list(normal_endpoints(spec.judge.endpoints))
    except ValueError as exc:
        raise InvalidInputError(f"endpoints: {exc}", code="unknown_endpoint") from None
    judge = msgspec.structs.replace(spec.judge, endpoints=judged_at)
    return msgspec.structs.replace(spec, endpoints=endpoints, judge=judge)


def _check_judge_choice(judge: JudgeConfig, engine: EngineSettings) -> None:
    """The judge's endpoints come from the configured ones too (judge or generation endpoints)."""
    if judge.endpoints is not None:
        unknown = sorted(set(judge.endpoints) - set(engine.judge_endpoints) - set(engine.endpoints))
        if unknown:
            raise InvalidInputError(f"judge endpoints must be configured endpoints; unknown: {unknown}",
                                    code="unknown_endpoint")  # fmt: skip
    judged_by_generation = judge.endpoints is None and not engine.judge_endpoints
    if judged_by_generation and engine.kind == "embedded" and judge.model not in (None, engine.served_model_name):
        raise InvalidInputError(f"the embedded engine serves {engine.served_model_name!r} only", code="unknown_model")


class EngineHolder:
    """Owns the engine for the app's lifetime. Jobs wait on `ready`; /health reports `status`."""

    def __init__(self, settings: EngineSettings, data_dir: Path) -> None:
        self.settings = settings
        self.data_dir = data_dir
        self._changed = asyncio.Event()  # set (and replaced) at every change of status: wakes `wait_ready`
        self.status: EngineStatus = "not_configured" if settings.kind == "none" else "starting"
        self._detail = ""
        self.detail = "generation is switched off (INSTRUCTFORGE_ENGINE=none)" if settings.kind == "none" else ""
        self.engine: CompletionEngine | None = None
        self.ready = asyncio.Event()
        self._server = None
        self._task: asyncio.Task | None = None
        self._starts = 0
        # Every client of every job asks this one fleet for its slots: the endpoints' limits and the jobs'
        # fair shares hold across jobs, models and the judge (`generators.fleet`).
        self.fleet = Fleet(
            cap=settings.requests_in_flight, initial=settings.initial_requests_in_flight,
            adaptive=settings.adapts, timeout_s=settings.request_timeout_s,
        )  # fmt: skip

    @property
    def status(self) -> EngineStatus:
        return self._status

    @status.setter
    def status(self, status: EngineStatus) -> None:
        self._status = status
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait_ready(self) -> None:
        """Until the engine is ready; EngineFailedError, with the reason, once it has failed."""
        while not self.ready.is_set():
            if self.status == "failed":
                raise EngineFailedError(f"the generation engine failed: {self.detail}")
            await self._changed.wait()

    def waiting_for(self) -> str | None:
        """Why a job that is not running its rounds waits on the engine (None: it does not)."""
        if self.status in ("starting", "failed"):
            return f"engine {self.status}: {self.detail or 'no detail yet'}"
        return None

    @property
    def detail(self) -> str:
        return self._detail

    @detail.setter
    def detail(self, text: str) -> None:
        """Every status line is redacted as it is set: endpoint URLs and errors may carry credentials."""
        self._detail = redact_text(text)

    def start(self) -> None:
        if self.settings.kind != "none":
            self._task = asyncio.create_task(self._start(), name="engine-start")

    async def _start(self) -> None:
        try:
            await self._connect()
        except Exception as exc:  # reported by /health; jobs stay queued
            self.status, self.detail = "failed", f"{type(exc).__name__}: {exc}"
            log.exception("engine failed to start")
            return
        if self.settings.kind == "embedded":
            await self._watch()

    async def _watch(self) -> None:
        """Restart the embedded vLLM server if it dies; jobs pause on `ready` meanwhile."""
        while True:
            await asyncio.sleep(2)
            if self._server.is_running():
                continue
            self.ready.clear()
            if self._starts > _MAX_RESTARTS:
                self.status, self.detail = (
                    "failed",
                    f"the vLLM server exited {self._starts} times (see {self._server_log()})",
                )
                return
            self.status, self.detail = "starting", f"the vLLM server exited (see {self._server_log()}); restarting"
            log.error("the embedded vLLM server exited; restarting it")
            await anyio.to_thread.run_sync(self._server.stop)  # reap what is left of its process group
            old = self.engine
            try:
                await self._connect()
            except Exception as exc:
                self.status, self.detail = "failed", f"restart failed: {type(exc).__name__}: {exc}"
                log.exception("engine restart failed")
                return
            finally:
                await old.aclose()

    @contextlib.asynccontextmanager
    async def engine_for(self, endpoints: list[str] | None, model: str | None) -> AsyncIterator[CompletionEngine]:
        """A job's own client when it narrows the endpoints or names a model (remote engines only)."""
        await self.wait_ready()
        engine = self._client(endpoints or list(self.settings.endpoints), model or self.engine.model)
        try:
            yield engine
        finally:
            await engine.aclose()

    @contextlib.asynccontextmanager
    async def judge_engine_for(self, judge: JudgeConfig) -> AsyncIterator[CompletionEngine | None]:
        """The judge's own client, or None when the generation engine judges (the default)."""
        endpoints = judge.endpoints or list(self.settings.judge_endpoints)
        if not endpoints and judge.model is None:
            yield None
            return
        await self.wait_ready()
        endpoints = endpoints or list(self.settings.endpoints)
        if not endpoints:  # embedded, the served model named: the generation engine itself
            yield None
            return
        model = judge.model or self.settings.judge_model or await self._discover(endpoints[0])
        engine = self._client(endpoints, model)
        try:
            yield engine
        finally:
            await engine.aclose()

    async def _connect(self) -> None:
        if self.settings.kind == "embedded":
            endpoint, model = await self._start_embedded()
            endpoints = [endpoint]
        else:
            endpoints = list(self.settings.endpoints)
            model = self.settings.model or await self._discover(endpoints[0])
        self.engine = self._client(endpoints, model)
        self.status, self.detail = "ready", f"{self.settings.kind}: {model} at {', '.join(endpoints)}"
        self.ready.set()
        log.info("engine ready: %s", self.detail)

    def _client(self, endpoints: list[str], model: str) -> OpenAICompletionsEngine:
        return OpenAICompletionsEngine(
            endpoints,
            model,
            fleet=self.fleet,
            timeout_s=self.settings.request_timeout_s,
            retries=self.settings.retries,
            send_seed=self.settings.sends_seed,
        )

    def _server_log(self) -> Path:
        name = "vllm.log" if self._starts <= 1 else f"vllm.restart-{self._starts - 1}.log"
        return self.data_dir / "logs" / name

    async def _start_embedded(self) -> tuple[str, str]:
        from generators.model import data_dir_cache, resolve_model
        from generators.vllm_server import VLLMServer

        self.detail = "preparing the model"
        cache = data_dir_cache(self.data_dir)
        model_path = await anyio.to_thread.run_sync(resolve_model, self.settings.model, cache)
        self.detail = f"starting vLLM with {model_path}"
        self._starts += 1
        self._server = VLLMServer(
            model_path,
            served_model_name=self.settings.served_model_name,
            max_model_len=self.settings.max_model_len,
            kv_cache_gib=self.settings.kv_cache_gib,
            log_path=self._server_log(),
        )
        (self.data_dir / "logs").mkdir(parents=True, exist_ok=True)
        await anyio.to_thread.run_sync(self._server.start)
        await anyio.to_thread.run_sync(self._server.wait_ready, self.settings.start_timeout_s)
        return self._server.base_url, self.settings.served_model_name

    async def _discover(self, endpoint: str) -> str:
        """Remote servers may come up after us: ask until one answers or the start timeout passes.

        A refusal (EngineError: a 4xx such as the 404 of a wrong path) is no server still starting: it is
        raised at once. The timeout's error says what the last try got, since that is why nothing started.
        """
        last = "no answer"
        try:
            with anyio.fail_after(self.settings.start_timeout_s):
                while True:
                    try:
                        return await discover_model(endpoint)
                    except EngineError:
                        raise
                    except Exception as exc:  # noqa: BLE001 - any other failure means "not yet"
                        last = f"{type(exc).__name__}: {exc}"
                        self.detail = f"waiting for {endpoint}: {last}"
                        await asyncio.sleep(2)
        except TimeoutError:
            timeout = self.settings.start_timeout_s
            raise TimeoutError(f"{endpoint} listed no model in {timeout:g} s; the last try: {last}") from None

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        if self.engine is not None:
            await self.engine.aclose()
        await self.fleet.aclose()
        if self._server is not None:
            await anyio.to_thread.run_sync(self._server.stop)
