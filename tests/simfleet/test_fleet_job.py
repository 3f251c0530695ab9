"""A real `instructforge serve` in remote mode runs a self-instruct job against a simulated 2-endpoint fleet.

The simulator's answers go through the service's real parsing, filters, dedup and commits: the job must reach
its exact target with no instruction stored twice, the fleet's two endpoints sharing the requests.
"""

from __future__ import annotations

import signal
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


def test_a_job_on_a_simulated_fleet_reaches_its_exact_target_without_duplicates(
    tmp_path: Path, seed_bytes: bytes
) -> None:
    with SimFleet(FAST, endpoints=2, seed=11) as fleet:
        env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": ",".join(fleet.urls)}
        server = Server(tmp_path / "data", free_port(), env)
        try:
            server.wait_ready()
            assert fleet.urls[1] in server.wait_engine(timeout=60)["detail"]
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
