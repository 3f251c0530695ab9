"""A real `instructforge serve` in remote mode runs self-instruct jobs against a simulated fleet.

The simulator's answers go through the service's real parsing, filters, dedup and commits: a job must reach
its exact target with no instruction stored twice, the fleet's four endpoints sharing the requests; a job
posted while another runs starts at once and both share the fleet; an endpoint that answers 429 with
`Retry-After` is backed off (the others carry the job) and used again once it answers.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import pytest

from domain.fingerprint import fingerprint
from tests.service.servers import Server, free_port
from tests.service.test_generation import generated_records, upload_seeds
from tests.simfleet import SimFleet
from tests.simfleet.profiles import FAST

pytestmark = pytest.mark.server
TARGET = 60


def fleet_server(tmp_path: Path, fleet: SimFleet) -> Server:
    env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": ",".join(fleet.urls)}
    server = Server(tmp_path / "data", free_port(), env)
    server.wait_ready()
    return server


def all_generated_records(url: str, dataset_id: str) -> list[dict]:
    records, cursor = [], None
    while True:
        params = {"source": "generated", "limit": 1000} | ({"cursor": cursor} if cursor else {})
        page = httpx.get(f"{url}/v1/datasets/{dataset_id}/records", params=params).json()
        records += page["items"]
        if not (cursor := page["next"]):
            return records


def post_job(url: str, dataset_id: str, target: int, seed: int, **extra: object) -> dict:
    body = {"dataset_id": dataset_id, "target": target, "seed": seed, "config": {"prompts_per_round": 8}} | extra
    answer = httpx.post(f"{url}/v1/jobs", json=body)
    assert answer.status_code == 202, answer.text
    return answer.json()


def test_a_job_on_a_simulated_fleet_reaches_its_exact_target_without_duplicates(
    tmp_path: Path, seed_bytes: bytes
) -> None:
    with SimFleet(FAST, endpoints=4, seed=11) as fleet:
        server = fleet_server(tmp_path, fleet)
        try:
            assert fleet.urls[3] in server.wait_engine(timeout=60)["detail"]
            dataset_id = upload_seeds(server.url, seed_bytes)
            body = {"dataset_id": dataset_id, "target": TARGET, "seed": 3, "config": {"prompts_per_round": 8}}
            job = httpx.post(f"{server.url}/v1/jobs", json=body).json()
            done = server.wait_job(job["id"], lambda j: j["status"] == "succeeded", timeout=60)
            records = generated_records(server.url, dataset_id)
            stats = httpx.get(f"{server.url}/v1/datasets/{dataset_id}/stats").json()
        finally:
            server.stop(signal.SIGTERM)
        served = fleet.stats()
    assert (done["accepted"], done["stop_reason"]) == (TARGET, "target_reached")
    assert len(records) == TARGET and len({fingerprint(r["instruction"]) for r in records}) == TARGET
    assert stats["by_source"] == {"seed": 175, "generated": TARGET}
    # The simulator's misses are rejected with the service's own reasons, as a real model's are.
    assert {"too_short"} <= set(done["rejections_by_reason"]), done["rejections_by_reason"]
    assert all(s["completed"] > 0 and s["rejected_429"] == 0 for s in served), served
    assert done["progress"]["tokens"] <= sum(s["tokens_out"] for s in served)


def test_a_job_posted_while_another_runs_starts_at_once_and_both_finish(tmp_path: Path, seed_bytes: bytes) -> None:
    with SimFleet(FAST, endpoints=2, seed=12) as fleet:
        server = fleet_server(tmp_path, fleet)
        try:
            server.wait_engine(timeout=60)
            dataset_id = upload_seeds(server.url, seed_bytes)
            long = post_job(server.url, dataset_id, 100_000, seed=1)
            server.wait_job(long["id"], lambda j: j["accepted"] > 0, timeout=60)
            posted = time.monotonic()
            short = post_job(server.url, dataset_id, 20, seed=2, weight=3)
            running = server.wait_job(short["id"], lambda j: j["status"] in ("running", "succeeded"), timeout=30)
            started_after = time.monotonic() - posted
            done = server.wait_job(short["id"], lambda j: j["status"] == "succeeded", timeout=60)
            meanwhile = httpx.get(f"{server.url}/v1/jobs/{long['id']}").json()
            httpx.post(f"{server.url}/v1/jobs/{long['id']}/cancel")
            cancelled = server.wait_job(long["id"], lambda j: j["status"] == "cancelled", timeout=60)
            records = all_generated_records(server.url, dataset_id)
        finally:
            server.stop(signal.SIGTERM)
    # The short job did not wait for the long one: it started within the worker's wake-up and finished first.
    assert running["status"] in ("running", "succeeded") and started_after < 10, started_after
    assert (done["accepted"], done["stop_reason"]) == (20, "target_reached")
    assert meanwhile["status"] == "running" and meanwhile["accepted"] < 100_000
    assert cancelled["accepted"] + 20 == len(records) == len({fingerprint(r["instruction"]) for r in records})


def test_an_endpoint_answering_429_is_backed_off_then_used_again(tmp_path: Path, seed_bytes: bytes) -> None:
    with SimFleet(FAST, endpoints=2, seed=13) as fleet:
        fleet.change(0, refuse_all=True, retry_after_s=1)
        server = fleet_server(tmp_path, fleet)
        try:
            server.wait_engine(timeout=60)
            dataset_id = upload_seeds(server.url, seed_bytes)
            job = post_job(server.url, dataset_id, 100_000, seed=4)
            server.wait_job(job["id"], lambda j: j["accepted"] >= 10, timeout=60)
            refusing = fleet.stats()[0]
            backed_off = httpx.get(f"{server.url}/v1/engine").json()["endpoints"]
            fleet.change(0, refuse_all=False)
            served_before = fleet.stats()[0]["completed"]
            deadline = time.monotonic() + 30
            while fleet.stats()[0]["completed"] == served_before and time.monotonic() < deadline:
                time.sleep(0.2)
            again = fleet.stats()[0]
            httpx.post(f"{server.url}/v1/jobs/{job['id']}/cancel")
            server.wait_job(job["id"], lambda j: j["status"] == "cancelled", timeout=60)
        finally:
            server.stop(signal.SIGTERM)
    # While it refused, the job went on on the other endpoint; the refusing one was asked rarely: each 429
    # paused it for its Retry-After (1 s) and halved its limit, so it saw a few requests per second at most.
    assert refusing["completed"] == 0 and 1 <= refusing["rejected_429"] <= 40, refusing
    by_url = {load["endpoint"]: load for load in backed_off}
    assert by_url[fleet.urls[0]]["served"] == 0 and by_url[fleet.urls[1]]["served"] > 0, backed_off
    assert by_url[fleet.urls[0]]["limit"] < by_url[fleet.urls[1]]["limit"], backed_off
    assert again["completed"] > served_before == 0, again  # used again once it answered
