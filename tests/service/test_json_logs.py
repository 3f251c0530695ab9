"""JSON logs: a real server's every line is one JSON object with the request id; the worker's lines name the job."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import random
import signal
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from domain.job_spec import JobSpec
from generators.rounds import RoundResult
from service import worker as worker_module
from service.log_redaction import install_redaction
from service.logging_setup import ContextFilter, JSONFormatter
from service.settings import EngineSettings
from service.worker import JobWorker
from store import Store
from store.datasets import create_dataset
from store.jobs import create_job, get_job
from tests.service.servers import Server, free_port

FIELDS = {"time", "level", "logger", "message", "request_id", "job_id"}


@pytest.mark.server
def test_a_json_server_logs_one_object_per_line_with_the_request_id(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port(), {"INSTRUCTFORGE_LOG_FORMAT": "json"})
    try:
        server.wait_ready()
        given = httpx.post(f"{server.url}/v1/datasets", json={"name": "logged"}, headers={"X-Request-ID": "req-7.a"})
        made = httpx.get(f"{server.url}/no/such/route")
        assert given.status_code == 201 and made.status_code == 404
        assert given.headers["x-request-id"] == "req-7.a"
        made_id = made.headers["x-request-id"]
        assert len(made_id) == 32
    finally:
        server.stop()  # SIGTERM: uvicorn shuts down and logs it
    lines = [json.loads(line) for line in server.log.read_text().splitlines() if line.strip()]
    assert len(lines) >= 5  # start-up, two requests, shut-down
    assert all(set(line) >= FIELDS and line["level"] in ("debug", "info", "warning", "error") for line in lines)
    access = {line["request_id"]: line["message"] for line in lines if line["logger"] == "uvicorn.access"}
    assert "POST /v1/datasets" in access["req-7.a"] and "201" in access["req-7.a"]
    assert "GET /no/such/route" in access[made_id] and "404" in access[made_id]
    messages = [line["message"] for line in lines if line["request_id"] is None]
    assert any("Started server process" in m for m in messages)
    assert any("Finished server process" in m for m in messages)


@pytest.fixture
def json_records() -> Any:
    """What the `instructforge` loggers write through the JSON formatter, as parsed lines."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    handler.setFormatter(JSONFormatter())
    logger = logging.getLogger("instructforge")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


class FailingMethod:
    """Logs from inside its round, then fails it: both lines must name the job."""

    max_rounds_without_accept = 3
    exhausted = False
    label_examples: list[tuple[str, str]] = []

    async def round(self, engine: Any, rng: random.Random, seed: int, provenance: dict[str, Any]) -> RoundResult:
        logging.getLogger("instructforge.test").info("round %d started", provenance["round"])
        raise RuntimeError("the round broke")


class Holder:
    def __init__(self) -> None:
        self.settings = EngineSettings(kind="embedded", rounds_in_flight=1)
        self.ready = asyncio.Event()
        self.ready.set()
        self.engine = type("Engine", (), {"model": "scripted"})()
        self.fleet = None  # a scripted engine asks no fleet for slots: rounds are paced by their bound alone

    async def wait_ready(self) -> None:
        await self.ready.wait()


def test_the_worker_lines_about_a_job_carry_its_id(tmp_path: Path, monkeypatch, json_records) -> None:
    store = Store.open(tmp_path / "jobs.duckdb")
    try:
        job = create_job(store, JobSpec(dataset_id=create_dataset(store, name="logged").id, target=3))
        monkeypatch.setattr(worker_module, "open_method", lambda *_: FailingMethod())
        worker = JobWorker(store, Holder(), sandbox=None)  # type: ignore[arg-type]
        anyio.run(worker.run_job, get_job(store, job.id))
        assert get_job(store, job.id).status == "failed"
    finally:
        store.close()
    lines = json_records()
    round_line = next(line for line in lines if line["logger"] == "instructforge.test")
    failed = next(line for line in lines if line["logger"] == "instructforge.worker")
    assert round_line["job_id"] == failed["job_id"] == job.id
    assert failed["level"] == "error" and "RuntimeError: the round broke" in failed["exc"]
    assert round_line["request_id"] is None
    logging.getLogger("instructforge.test").info("after the job")
    assert json_records()[-1]["job_id"] is None  # the id is bound while the job runs, not after


def test_json_lines_are_redacted(json_records) -> None:
    previous = install_redaction()
    try:
        log = logging.getLogger("instructforge.test")
        log.error("cannot reach %s", "http://user:hunter2@10.0.0.1:8000/v1")
        try:
            raise ConnectionError("http://user:hunter2@10.0.0.1:8000/v1/completions refused")
        except ConnectionError:
            log.exception("request failed")
    finally:
        logging.setLogRecordFactory(previous)
    lines = json_records()
    assert len(lines) == 2 and "hunter2" not in json.dumps(lines)
    assert "10.0.0.1:8000" in lines[0]["message"] and "ConnectionError" in lines[1]["exc"]


@pytest.mark.server
def test_server_logs_stay_text_by_default(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port())
    try:
        server.wait_ready()
        assert httpx.get(f"{server.url}/health", headers={"X-Request-ID": "plain"}).headers["x-request-id"] == "plain"
    finally:
        server.stop(signal.SIGKILL)
    assert "Uvicorn running on" in server.log.read_text() and not server.log.read_text().startswith("{")
