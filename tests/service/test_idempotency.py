"""`Idempotency-Key` on `POST /v1/jobs`: a retried request finds its job instead of starting a second one."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.settings import EngineSettings, Settings
from tests.service.conftest import assert_error

NEVER_ANSWERS = "http://127.0.0.1:9"  # a remote engine that never starts: jobs stay queued


@pytest.fixture
def queued_app(settings: Settings) -> Iterator[TestClient]:
    remote = EngineSettings(kind="remote", endpoints=(NEVER_ANSWERS,), default_dataset=False)
    with TestClient(app=create_app(msgspec.structs.replace(settings, engine=remote))) as client:
        yield client


def test_a_retry_answers_the_same_job(queued_app: TestClient) -> None:
    dataset_id = queued_app.post("/v1/datasets", json={"name": "d"}).json()["id"]
    key = {"Idempotency-Key": "order-42/attempt"}
    first = queued_app.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 5}, headers=key)
    assert first.status_code == 202 and "idempotent-replayed" not in first.headers
    # The same request in other words (key order, spacing, a default spelled out) is the same request.
    same = b'{ "target": 5, "seed": 0, "dataset_id": "%s" }' % dataset_id.encode()
    retry = queued_app.post("/v1/jobs", content=same, headers=key | {"content-type": "application/json"})
    assert retry.status_code == 200 and retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["id"] == first.json()["id"]
    other = queued_app.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 6}, headers=key)
    assert_error(other, 409, "idempotency_key_reused")
    another_key = queued_app.post(
        "/v1/jobs", json={"dataset_id": dataset_id, "target": 5}, headers={"Idempotency-Key": "order-43"}
    )
    assert another_key.status_code == 202 and another_key.json()["id"] != first.json()["id"]
    without_key = queued_app.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 5})
    assert without_key.status_code == 202
    assert len(queued_app.get("/v1/jobs").json()["items"]) == 3


def test_a_key_that_failed_before_making_a_job_stays_free(queued_app: TestClient) -> None:
    key = {"Idempotency-Key": "k1"}
    assert_error(queued_app.post("/v1/jobs", json={"dataset_id": "ds_missing", "target": 5}, headers=key),
                 404, "dataset_not_found")  # fmt: skip
    dataset_id = queued_app.post("/v1/datasets", json={"name": "d"}).json()["id"]
    assert queued_app.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 5}, headers=key).status_code == 202


def test_bad_keys_are_refused(queued_app: TestClient) -> None:
    dataset_id = queued_app.post("/v1/datasets", json={"name": "d"}).json()["id"]
    body = {"dataset_id": dataset_id, "target": 5}
    for key in ("", "x" * 201, "caf\u00e9", "tab\there"):
        response = queued_app.post("/v1/jobs", json=body, headers={"Idempotency-Key": key.encode("utf-8")})
        assert_error(response, 400, "invalid_idempotency_key")
    assert queued_app.post("/v1/jobs", json=body, headers={"Idempotency-Key": "x" * 200}).status_code == 202
    assert len(queued_app.get("/v1/jobs").json()["items"]) == 1


@pytest.mark.server
def test_concurrent_identical_posts_make_one_job(start) -> None:
    """Eight clients send the same keyed request at the same moment to a real server: one job, one 202."""
    server = start(INSTRUCTFORGE_ENGINE="remote", INSTRUCTFORGE_ENDPOINTS=NEVER_ANSWERS)
    dataset_id = httpx.post(f"{server.url}/v1/datasets", json={"name": "d"}).json()["id"]
    body = {"dataset_id": dataset_id, "target": 5}
    barrier, answers = threading.Barrier(8), []

    def post() -> None:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            barrier.wait()
            answers.append(client.post("/v1/jobs", json=body, headers={"Idempotency-Key": "race"}))

    threads = [threading.Thread(target=post) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 7 + [202]
    assert len({a.json()["id"] for a in answers}) == 1
    assert all(a.headers.get("idempotent-replayed") == "true" for a in answers if a.status_code == 200)
    assert len(httpx.get(f"{server.url}/v1/jobs").json()["items"]) == 1
