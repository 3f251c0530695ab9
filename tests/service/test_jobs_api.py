from __future__ import annotations

import msgspec
from litestar.testing import TestClient

from service.app import create_app
from service.settings import EngineSettings
from tests.service.conftest import assert_error


def test_without_an_engine_jobs_are_refused(client: TestClient, dataset_id: str) -> None:
    error = assert_error(client.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 5}), 409,
                         "engine_not_configured")  # fmt: skip
    assert "without a generation engine" in error["detail"]
    assert client.get("/v1/jobs").json() == {"items": [], "next": None}


def test_job_requests_are_validated(client: TestClient, dataset_id: str) -> None:
    for body in (
        {"dataset_id": dataset_id},
        {"dataset_id": dataset_id, "target": 0},
        {"dataset_id": dataset_id, "target": 5, "method": "magic"},
        {"dataset_id": dataset_id, "target": 5, "sampling": {"temperature": 9}},
        {"dataset_id": dataset_id, "target": 5, "sampling": {"top_k": 3}},
        {"dataset_id": dataset_id, "target": 5, "colour": "red"},
    ):
        assert_error(client.post("/v1/jobs", json=body), 400, "invalid_request")
    assert_error(client.get("/v1/jobs/job_missing"), 404, "job_not_found")
    assert_error(client.post("/v1/jobs/job_missing/cancel"), 404, "job_not_found")


def test_queued_jobs_through_the_api_with_a_remote_engine_that_never_answers(settings) -> None:
    """The engine is unreachable, so jobs stay queued: enough to exercise create, list, read and cancel."""
    remote = EngineSettings(kind="remote", endpoints=("http://127.0.0.1:9",), default_dataset=False, start_timeout_s=60)
    with TestClient(app=create_app(msgspec.structs.replace(settings, engine=remote))) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
        created = client.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 5, "seed": 7})
        assert created.status_code == 202
        job = created.json()
        assert (job["status"], job["target"], job["accepted"], job["params"]["seed"]) == ("queued", 5, 0, 7)
        assert client.get(f"/v1/jobs/{job['id']}").json()["status"] == "queued"
        assert [j["id"] for j in client.get("/v1/jobs").json()["items"]] == [job["id"]]
        assert client.get("/v1/engine").json()["status"] == "starting"
        assert_error(client.get("/ready"), 503, "engine_starting")
        assert_error(client.post("/v1/jobs", json={"dataset_id": "ds_missing", "target": 1}), 404, "dataset_not_found")
        bad = {"dataset_id": dataset_id, "target": 1, "endpoints": ["http://169.254.169.254"]}
        assert_error(client.post("/v1/jobs", json=bad), 400, "unknown_endpoint")
        cancelled = client.post(f"/v1/jobs/{job['id']}/cancel").json()
        assert (cancelled["status"], cancelled["stop_reason"]) == ("cancelled", "cancelled")
        assert_error(client.post(f"/v1/jobs/{job['id']}/cancel"), 409, "job_finished")


def test_the_default_dataset_holds_the_packaged_seeds(settings) -> None:
    with_default = msgspec.structs.replace(settings, engine=EngineSettings(kind="none", default_dataset=True))
    with TestClient(app=create_app(with_default)) as client:
        [dataset] = client.get("/v1/datasets").json()["items"]
        assert dataset["name"] == "default" and dataset["tasks"] >= 100
        stats = client.get(f"/v1/datasets/{dataset['id']}/stats").json()
        assert len(stats["by_category"]) >= 7 and 0.15 <= stats["classification"]["share"] <= 0.2
    with TestClient(app=create_app(with_default)) as client:  # a restart adds nothing
        assert [d["tasks"] for d in client.get("/v1/datasets").json()["items"]] == [dataset["tasks"]]


def test_a_job_may_narrow_the_remote_endpoints(settings) -> None:
    """Two scripted OpenAI-compatible servers on 127.0.0.1; the job names one, and only that one works."""
    import time

    from tests.generators.test_engine import fake_server, self_instruct_script

    scripted = self_instruct_script([
        "Explain how tides depend on the moon.", "Suggest names for a bakery in Lisbon.",
        "Compare electric scooters with bicycles for commuting.", "Summarize the plot of Hamlet briefly.",
        "Convert ninety minutes into hours and minutes.", "Recommend stretches after a long run.",
        "Translate good morning into Spanish and Italian.", "Outline a budget for a weekend camping trip.",
    ])  # fmt: skip

    with fake_server(scripted) as (first, first_seen), fake_server(scripted) as (second, second_seen):
        remote = EngineSettings(kind="remote", endpoints=(first, second), default_dataset=False)
        with TestClient(app=create_app(msgspec.structs.replace(settings, engine=remote))) as client:
            dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
            seeds = b'{"instruction": "Write a haiku about rain.", "output": "Soft rain on the roof."}'
            client.post(
                f"/v1/datasets/{dataset_id}/seeds", content=seeds, headers={"content-type": "application/x-ndjson"}
            )
            body = {"dataset_id": dataset_id, "target": 3, "endpoints": [second], "config": {"prompts_per_round": 2}}
            job = client.post("/v1/jobs", json=body).json()
            deadline = time.monotonic() + 60
            while (state := client.get(f"/v1/jobs/{job['id']}").json())["status"] in ("queued", "running"):
                assert time.monotonic() < deadline, state
                time.sleep(0.2)
            assert (state["status"], state["accepted"], state["stop_reason"]) == ("succeeded", 3, "target_reached")
            assert state["progress"]["stages"]["accepted"] >= 3 and state["progress"]["tokens"] > 0
    assert first_seen == [] and len(second_seen) >= 3
