"""Job webhooks: signed POSTs of each status change to a real receiver on 127.0.0.1, retried and recorded."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import msgspec
from litestar.testing import TestClient

from service.app import create_app
from service.schemas import JobOut
from service.settings import EngineSettings, Settings, WebhookSettings
from tests.generators.test_engine import fake_server, self_instruct_script
from tests.service.conftest import assert_error
from tests.service.servers import free_port

SECRET = "s3cret-for-the-test"
NEVER_ANSWERS = "http://127.0.0.1:9"  # a remote engine that never starts: jobs stay queued
FAST = WebhookSettings(max_attempts=3, timeout_s=5, backoff_s=0.01, backoff_max_s=0.05)


class Received(msgspec.Struct, frozen=True):
    headers: dict[str, str]
    body: bytes


@contextmanager
def receiver(statuses: Callable[[int], int]) -> Iterator[tuple[str, list[Received]]]:
    """A webhook receiver answering the n-th POST (from 1) with `statuses(n)`; it keeps what it got."""
    got: list[Received] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["content-length"]))
            with lock:
                got.append(Received({k.lower(): v for k, v in self.headers.items()}, body))
                status = statuses(len(got))
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def app_settings(settings: Settings, endpoints: tuple[str, ...], webhooks: WebhookSettings = FAST) -> Settings:
    engine = EngineSettings(kind="remote", endpoints=endpoints, default_dataset=False)
    return msgspec.structs.replace(settings, engine=engine, webhooks=webhooks)


def wait_for(check: Callable[[], object], timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while not (result := check()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
    return result


def ended_deliveries(client: TestClient, job_id: str) -> list[dict] | None:
    """The job's delivery attempts once its `end` event is settled (a 2xx, or the tries spent)."""
    items = client.get(f"/v1/jobs/{job_id}/webhook-deliveries").json()["items"]
    end = [d for d in items if d["event"] == "end"]
    done = end and (end[-1]["status_code"] == 200 or end[-1]["attempt"] == FAST.max_attempts)
    return items if done else None


def test_a_running_job_posts_signed_status_changes_retried_after_a_500(settings: Settings) -> None:
    """The receiver answers 500 once, then 200: the `status` event takes two tries, `end` one."""
    scripted = self_instruct_script([
        "Explain how tides depend on the moon.", "Suggest names for a bakery in Lisbon.",
        "Compare electric scooters with bicycles for commuting.", "Summarize the plot of Hamlet briefly.",
    ])  # fmt: skip

    with fake_server(scripted) as (engine, _), receiver(lambda n: 500 if n == 1 else 200) as (url, got):
        with TestClient(app=create_app(app_settings(settings, (engine,)))) as client:
            dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
            seeds = b'{"instruction": "Write a haiku about rain.", "output": "Soft rain on the roof."}'
            client.post(f"/v1/datasets/{dataset_id}/seeds", content=seeds,
                        headers={"content-type": "application/x-ndjson"})  # fmt: skip
            body = {"dataset_id": dataset_id, "target": 2, "config": {"prompts_per_round": 2},
                    "webhook": {"url": url, "secret": SECRET}}  # fmt: skip
            created = client.post("/v1/jobs", json=body)
            assert created.status_code == 202, created.text
            job_id = created.json()["id"]
            deliveries = wait_for(lambda: ended_deliveries(client, job_id))
            job_text = client.get(f"/v1/jobs/{job_id}").text
            listed = client.get("/v1/jobs").text
            snapshot = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={})
            assert snapshot.status_code == 201, snapshot.text
            manifest = client.get(f"/v1/snapshots/{snapshot.json()['id']}/files/manifest.json").text
            assert job_id in manifest  # the job's request is in the manifest, its secret is not (below)
    assert [(d["event"], d["attempt"], d["status_code"], d["error"]) for d in deliveries] == [
        ("status", 1, 500, None), ("status", 2, 200, None), ("end", 1, 200, None),
    ]  # fmt: skip
    assert [r.headers["x-instructforge-event"] for r in got] == ["status", "status", "end"]
    assert (
        got[0].body == got[1].body
        and got[0].headers["x-instructforge-delivery"] == got[1].headers["x-instructforge-delivery"]
    )  # a retry sends the same event, byte for byte
    for received in got:
        expected = "sha256=" + hmac.new(SECRET.encode(), received.body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(received.headers["x-instructforge-signature"], expected)
        assert received.headers["content-type"] == "application/json"
    running, ended = (msgspec.json.decode(got[i].body, type=JobOut) for i in (0, 2))
    assert running.id == ended.id == job_id and running.status == "running"
    assert (ended.status, ended.accepted) == ("succeeded", 2)
    assert ended.params.webhook is not None and ended.params.webhook.url == url
    for text in (job_text, listed, manifest, *(r.body.decode() for r in got), json.dumps(deliveries)):
        assert SECRET not in text  # the secret signs; it is never shown
    assert json.loads(job_text)["params"]["webhook"] == {"url": url, "secret": "***"}


def test_a_receiver_that_never_answers_fails_only_its_deliveries(settings: Settings) -> None:
    """Nothing listens on the webhook's port: every try is recorded with its error, the cancel stands."""
    dead = f"http://127.0.0.1:{free_port()}/hook"
    with TestClient(app=create_app(app_settings(settings, (NEVER_ANSWERS,)))) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
        body = {"dataset_id": dataset_id, "target": 5, "webhook": {"url": dead, "secret": SECRET}}
        job_id = client.post("/v1/jobs", json=body).json()["id"]
        cancelled = client.post(f"/v1/jobs/{job_id}/cancel")
        assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
        deliveries = wait_for(lambda: ended_deliveries(client, job_id))
        assert client.get(f"/v1/jobs/{job_id}").json()["status"] == "cancelled"
    assert [(d["event"], d["attempt"], d["status_code"]) for d in deliveries] == [
        ("end", n, None) for n in range(1, FAST.max_attempts + 1)
    ]
    assert all(d["error"].startswith("ConnectError") for d in deliveries)


def test_an_event_pending_at_shutdown_is_delivered_after_the_restart(settings: Settings) -> None:
    """The first try fails and the service stops before the next: the next start delivers the event."""
    patient = WebhookSettings(max_attempts=10, timeout_s=5, backoff_s=600, backoff_max_s=3600)
    with receiver(lambda n: 503 if n == 1 else 200) as (url, got):
        with TestClient(app=create_app(app_settings(settings, (NEVER_ANSWERS,), patient))) as client:
            dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
            body = {"dataset_id": dataset_id, "target": 5, "webhook": {"url": url, "secret": SECRET}}
            job_id = client.post("/v1/jobs", json=body).json()["id"]
            client.post(f"/v1/jobs/{job_id}/cancel")
            wait_for(lambda: client.get(f"/v1/jobs/{job_id}/webhook-deliveries").json()["items"])
        assert len(got) == 1  # stopped while waiting to try again
        with TestClient(app=create_app(app_settings(settings, (NEVER_ANSWERS,), patient))) as client:
            deliveries = wait_for(lambda: ended_deliveries(client, job_id))
    assert [(d["attempt"], d["status_code"]) for d in deliveries] == [(1, 503), (2, 200)]
    assert got[0].body == got[1].body  # the body fixed at the first try, kept across the restart


def test_webhook_urls_are_http_only(settings: Settings) -> None:
    with TestClient(app=create_app(app_settings(settings, (NEVER_ANSWERS,)))) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
        for webhook in ({"url": "ftp://example.com/x", "secret": SECRET}, {"url": "http://example.com/x"},
                        {"url": "http://example.com/x", "secret": ""}, {"url": "http://example.com/x\n", "secret": "s"},
                        {"url": "http://example.com/x", "secret": "s", "headers": {}}):  # fmt: skip
            body = {"dataset_id": dataset_id, "target": 5, "webhook": webhook}
            assert_error(client.post("/v1/jobs", json=body), 400, "invalid_request")
        assert_error(client.get("/v1/jobs/job_missing/webhook-deliveries"), 404, "job_not_found")
        assert client.get("/v1/jobs").json()["items"] == []


def test_webhook_settings_come_from_the_environment() -> None:
    from service.settings import SettingsError, settings_from_env

    env = {"INSTRUCTFORGE_WEBHOOK_MAX_ATTEMPTS": "3", "INSTRUCTFORGE_WEBHOOK_TIMEOUT_S": "2.5",
           "INSTRUCTFORGE_WEBHOOK_BACKOFF_S": "0.5", "INSTRUCTFORGE_WEBHOOK_BACKOFF_MAX_S": "30"}  # fmt: skip
    assert settings_from_env(env).webhooks == WebhookSettings(
        max_attempts=3, timeout_s=2.5, backoff_s=0.5, backoff_max_s=30
    )
    try:
        settings_from_env({"INSTRUCTFORGE_WEBHOOK_MAX_ATTEMPTS": "0"})
    except SettingsError as exc:
        assert "INSTRUCTFORGE_WEBHOOK_MAX_ATTEMPTS" in str(exc)
    else:
        raise AssertionError("0 attempts was accepted")
