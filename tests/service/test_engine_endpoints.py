"""Endpoints in either form (`http://h:8000` or the OpenAI base URL `http://h:8000/v1`), and jobs that say why
they cannot start: while the engine starts (`waiting_for`), and when it has failed (the job fails, naming the
endpoint and what it answered; a new job is a 503 `engine_failed`).

The remote engines are real HTTP servers on 127.0.0.1 in this process: the scripted OpenAI-compatible one
(which answers 404 off its two paths, as vLLM does) and one that answers 404 to everything.
"""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable

import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.settings import EngineSettings, Settings, SettingsError, settings_from_env
from tests.service.conftest import assert_error
from tests.service.scripted_engine import scripted_engine
from tests.service.servers import Server, free_port

SEED = b'{"instruction": "Write a haiku about rain on a tin roof.", "output": "Soft drums overhead."}'
SCRIPT = [
    "Explain how tides depend on the moon and the sun.",
    "Suggest five names for a small bakery in Lisbon.",
    "Outline a budget for a weekend camping trip for four.",
]
NEVER_ANSWERS = "http://127.0.0.1:9"  # the discard port: connection refused, so the engine stays `starting`


def wait_for(what: Callable[[], dict], done: Callable[[dict], bool], timeout: float, name: str) -> dict:
    deadline = time.monotonic() + timeout
    while not done(seen := what()):
        assert time.monotonic() < deadline, f"{name}: {seen}"
        time.sleep(0.2)
    return seen


def test_settings_take_either_form_and_name_the_variable_of_a_bad_one() -> None:
    env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": "http://a:8000/v1/, http://b:8000,http://a:8000",
           "INSTRUCTFORGE_JUDGE_ENDPOINTS": "https://u:secret@judge/proxy/v1"}  # fmt: skip
    engine = settings_from_env(env).engine
    assert engine.endpoints == ("http://a:8000", "http://b:8000")
    assert engine.judge_endpoints == ("https://u:secret@judge/proxy",)
    assert EngineSettings(kind="remote", endpoints=("http://a:8000/v1",)).endpoints == ("http://a:8000",)
    for variable, value, message in (
        ("ENDPOINTS", "ftp://u:secret@h", "INSTRUCTFORGE_ENDPOINTS: endpoint 1: 'ftp://***@h' is not an http(s) URL"),
        ("ENDPOINTS", "http://a:8000,a:8000", "INSTRUCTFORGE_ENDPOINTS: endpoint 2: an endpoint needs an http://"),
        ("JUDGE_ENDPOINTS", "judge:8000", "INSTRUCTFORGE_JUDGE_ENDPOINTS: endpoint 1: an endpoint needs an http://"),
    ):
        with pytest.raises(SettingsError) as refused:
            settings_from_env({**env, f"INSTRUCTFORGE_{variable}": value})
        assert str(refused.value).startswith(message) and "secret" not in str(refused.value)


def test_a_job_names_either_form_of_a_configured_endpoint_and_says_why_it_waits(settings: Settings) -> None:
    """The engine never answers (connection refused): it stays `starting`, and a queued job says so."""
    remote = EngineSettings(kind="remote", endpoints=(f"{NEVER_ANSWERS}/v1",), judge_endpoints=("http://127.0.0.1:7",),
                            default_dataset=False, start_timeout_s=60)  # fmt: skip
    with TestClient(app=create_app(msgspec.structs.replace(settings, engine=remote))) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
        for given in (NEVER_ANSWERS, f"{NEVER_ANSWERS}/", f"{NEVER_ANSWERS}/v1", f"{NEVER_ANSWERS}/v1/"):
            judge = {"endpoints": ["http://127.0.0.1:7/v1", given]}
            created = client.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 1, "endpoints": [given],
                                                    "judge": judge})  # fmt: skip
            assert created.status_code == 202, created.text
            params = created.json()["params"]
            assert params["endpoints"] == [NEVER_ANSWERS]
            assert params["judge"]["endpoints"] == ["http://127.0.0.1:7", NEVER_ANSWERS]
        for bad in (["ftp://127.0.0.1:9"], ["127.0.0.1:9"], [" "], ["http://127.0.0.1:9/v2"]):
            body = {"dataset_id": dataset_id, "target": 1, "endpoints": bad}
            refused = assert_error(client.post("/v1/jobs", json=body), 400, "unknown_endpoint")
            assert "endpoint" in refused["detail"], refused
        job_id = created.json()["id"]
        job = wait_for(lambda: client.get(f"/v1/jobs/{job_id}").json(),
                       lambda j: "waiting for" in (j["waiting_for"] or ""), 10, "a reason to wait")  # fmt: skip
        assert job["status"] == "queued" and job["error"] is None
        assert job["waiting_for"].startswith(f"engine starting: waiting for {NEVER_ANSWERS}: ConnectError")
        assert client.get("/v1/jobs").json()["items"][0]["waiting_for"].startswith("engine starting: ")
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel").json()
        assert cancelled["status"] == "cancelled" and cancelled["waiting_for"] is None


@pytest.mark.server
def test_an_openai_base_url_is_called_at_the_servers_root_and_a_job_succeeds(start) -> None:
    with scripted_engine(list(SCRIPT), 0.02) as engine:
        server: Server = start(INSTRUCTFORGE_ENGINE="remote", INSTRUCTFORGE_ENDPOINTS=f"{engine.url}/v1")
        api = httpx.Client(base_url=server.url, timeout=10)
        try:
            status = wait_for(lambda: api.get("/v1/engine").json(), lambda e: e["status"] != "starting", 20, "engine")
            assert status == {"status": "ready", "detail": f"remote: scripted at {engine.url}", "endpoints": []}
            dataset_id = api.post("/v1/datasets", json={"name": "d"}).json()["id"]
            api.post(f"/v1/datasets/{dataset_id}/seeds", content=SEED, headers={"content-type": "application/x-ndjson"})
            body = {"dataset_id": dataset_id, "target": 2, "endpoints": [engine.url],  # the other form: the same one
                    "config": {"prompts_per_round": 1, "max_rounds_without_accept": 3}}  # fmt: skip
            job_id = api.post("/v1/jobs", json=body).json()["id"]
            job = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(),
                           lambda j: j["status"] not in ("queued", "running"), 20, "the job")  # fmt: skip
            assert (job["status"], job["accepted"], job["stop_reason"]) == ("succeeded", 2, "target_reached"), job
            assert job["waiting_for"] is None and job["params"]["endpoints"] == [engine.url]
        finally:
            api.close()


class _NotFound(http.server.BaseHTTPRequestHandler):
    """A server at the wrong address: 404 to everything."""

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(404)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", "22")
        self.end_headers()
        self.wfile.write(b'{"detail":"Not Found"}')

    def log_message(self, *args) -> None:
        pass


@pytest.mark.server
def test_a_404_fails_the_engine_and_the_job_waiting_on_it_says_why(start) -> None:
    """Nothing listens at first (the engine is `starting`, the job queued with the reason); then a server that
    answers 404 comes up there: the engine fails at once, the queued job fails naming the endpoint and the 404,
    and a new job is refused with 503 `engine_failed`."""
    port = free_port()
    endpoint = f"http://127.0.0.1:{port}"
    server: Server = start(INSTRUCTFORGE_ENGINE="remote", INSTRUCTFORGE_ENDPOINTS=f"{endpoint}/v1/")
    api = httpx.Client(base_url=server.url, timeout=10)
    wrong: http.server.ThreadingHTTPServer | None = None
    try:
        dataset_id = api.post("/v1/datasets", json={"name": "d"}).json()["id"]
        created = api.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 1})
        assert created.status_code == 202 and created.json()["status"] == "queued", created.text
        job_id = created.json()["id"]
        queued = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(),
                          lambda j: "waiting for" in (j["waiting_for"] or ""), 10, "a reason to wait")  # fmt: skip
        assert queued["waiting_for"].startswith(f"engine starting: waiting for {endpoint}: ConnectError"), queued

        wrong = http.server.ThreadingHTTPServer(("127.0.0.1", port), _NotFound)
        threading.Thread(target=wrong.serve_forever, daemon=True).start()
        engine = wait_for(lambda: api.get("/v1/engine").json(), lambda e: e["status"] != "starting", 10, "engine")
        assert engine["status"] == "failed", engine
        assert f"{endpoint} answered GET /v1/models with 404 Not Found" in engine["detail"], engine
        job = wait_for(lambda: api.get(f"/v1/jobs/{job_id}").json(),
                       lambda j: j["status"] != "queued", 10, "the job's end")  # fmt: skip
        assert (job["status"], job["stop_reason"], job["waiting_for"]) == ("failed", "error", None), job
        assert f"{endpoint} answered GET /v1/models with 404 Not Found" in job["error"], job
        refused = assert_error(api.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 1}), 503, "engine_failed")
        assert "404 Not Found" in refused["detail"], refused
        assert_error(api.get("/ready"), 503, "engine_failed")
    finally:
        api.close()
        if wrong is not None:
            wrong.shutdown()
            wrong.server_close()
