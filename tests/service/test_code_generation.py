"""Code jobs and steered jobs end to end: the real vLLM engine, the real sandbox, the real DuckDB file.

Both run in remote mode against the session's vLLM server (the embedded engine is the same server,
started by the service: `test_generation.py` covers that path).
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from generators.sandbox import run_tests
from tests.service.servers import Server, serving_on

pytestmark = pytest.mark.server


@pytest.fixture
def server(tmp_path: Path, vllm_server):
    with serving_on(tmp_path / "data", vllm_server.base_url, default_dataset=True) as running:
        yield running


def records(url: str, dataset_id: str, **params) -> list[dict]:
    return httpx.get(f"{url}/v1/datasets/{dataset_id}/records", params={"limit": 1000, **params}).json()["items"]


def test_a_code_job_keeps_only_tasks_whose_tests_pass(server: Server) -> None:
    dataset_id = httpx.post(f"{server.url}/v1/datasets", json={"name": "code"}).json()["id"]
    # A low temperature, one test as the minimum and no minimum kill rate: the 135M model's code passes its
    # own tests in a few percent of candidates (bench/code_job_bench.py), and this test is about the pipeline,
    # not the model. The strength of the tests is still measured and stored (weak_tests: tests/generators).
    # Short prompts (two worked examples) and answers (256 tokens) keep a round cheap: with these settings
    # on the 2-core machine (2026-12-02) a round of 16 prompts took about 25-35 s and 16 of 640 candidates
    # passed (one every 2.5 rounds), so the wait below covers some 40 rounds.
    body = {"dataset_id": dataset_id, "method": "code", "target": 1, "seed": 11, "sampling": {"temperature": 0.2},
            "code": {"prompts_per_round": 16, "examples_per_prompt": 2, "max_tokens": 256, "min_tests": 1,
                     "max_rounds_without_accept": 60, "min_kill_rate": None}}  # fmt: skip
    job = httpx.post(f"{server.url}/v1/jobs", json=body).json()
    done = server.wait_job(job["id"], lambda j: j["status"] == "succeeded", timeout=1500)
    assert done["accepted"] == 1 and done["progress"]["stages"]["executed"] >= 1

    seeds = records(server.url, dataset_id, source="seed")
    assert len(seeds) == 40 and all(s["code"]["status"] == "passed" for s in seeds)  # proven before use
    generated = records(server.url, dataset_id, source="generated")
    assert len(generated) == 1
    for record in generated:
        code = record["code"]
        assert record["category"] == "code" and code["status"] == "passed"
        assert code["tests_passed"] == code["tests_total"] == len(code["tests"]) >= 1
        assert record["instances"][0]["output"] == f"```python\n{code['solution']}\n```"
        assert run_tests(code["solution"], code["tests"]).status == "passed"  # re-run: the proof holds
        strength = code["strength"]  # measured: mutants of the solution run against its tests
        assert strength["mutants"] == 0 or 0 <= strength["killed"] <= strength["mutants"]

    stats = httpx.get(f"{server.url}/v1/datasets/{dataset_id}/stats").json()["code"]
    assert stats["verified_tasks"] == 41 and stats["passed"] >= 1
    assert stats["executed"] == stats["passed"] + sum(stats["failures"].values())
    assert 0 < stats["pass_rate"] <= 1
    assert stats["strength_measured"] == sum(stats["kill_rates"].values()) <= 1  # seeds are not mutated
    rejected = done["rejections_by_reason"]
    assert sum(rejected.values()) > 0, "the 135M model's misses are kept with their reasons"

    snap = httpx.post(f"{server.url}/v1/datasets/{dataset_id}/snapshots",
                      json={"verified_only": True, "source": "generated", "validation_fraction": 0}).json()  # fmt: skip
    tests_file = next(f for f in snap["files"] if f["name"] == "code_tests.jsonl")
    assert tests_file["records"] == 1


def test_category_targets_move_the_mix_toward_the_target(server: Server) -> None:
    """On the default dataset (10 categories x 12 seeds), ask for math only: steered prompts show math
    seeds, and the quota keeps anything else out, so the job's mix reaches the target."""
    default = httpx.get(f"{server.url}/v1/datasets").json()["items"][0]
    assert default["name"] == "default"
    body = {"dataset_id": default["id"], "target": 4, "seed": 5, "category_targets": {"math": 1.0},
            "config": {"prompts_per_round": 8, "max_rounds_without_accept": 20}}  # fmt: skip
    job = httpx.post(f"{server.url}/v1/jobs", json=body).json()
    done = server.wait_job(job["id"], lambda j: j["status"] == "succeeded", timeout=900)
    mix = done["progress"]["mix"]
    assert mix == {"targets": {"math": 1.0}, "achieved": {"math": 1.0}, "accepted": 4, "distance": 0.0}
    generated = records(server.url, default["id"], source="generated")
    assert [r["category"] for r in generated] == ["math"] * 4
