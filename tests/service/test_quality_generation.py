"""Quality end to end: the real vLLM engine (the session's server), the real sandbox, the real DuckDB file.

A self-instruct job with the judge and self-consistency on, a judge job over the stored tasks, an evol job of
two rounds, and `/v1/code/verify` on a strong and a weak test set, all over HTTP against `instructforge serve`.
"""

from __future__ import annotations

import httpx
import pytest

from tests.service.servers import Server, serving_on

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, vllm_server):
    with serving_on(tmp_path_factory.mktemp("quality") / "data", vllm_server.base_url, default_dataset=True) as running:
        yield running


@pytest.fixture(scope="module")
def dataset_id(server: Server) -> str:
    return next(d["id"] for d in httpx.get(f"{server.url}/v1/datasets").json()["items"] if d["name"] == "default")


def records(server: Server, dataset_id: str, **params) -> list[dict]:
    url = f"{server.url}/v1/datasets/{dataset_id}/records"
    return httpx.get(url, params={"limit": 1000, **params}, timeout=30).json()["items"]


def test_a_judged_self_consistent_job_stores_every_score(server: Server, dataset_id: str) -> None:
    # One task, small rounds: every candidate that passes the checks is judged (two judge prompts) and its
    # short answers sampled three times, so a round's cost grows with its prompts. The earlier 12-prompt
    # version saw 22 judged candidates in 24 prompts (2026-12-01), so 6 prompts should judge a few a round;
    # the job took 40 s in CI-style runs of 2026-12-02.
    body = {"dataset_id": dataset_id, "target": 1, "seed": 3, "config": {"prompts_per_round": 6,
            "max_rounds_without_accept": 20}, "judge": {"enabled": True, "min_quality": 1.0},
            "consistency": {"enabled": True}}  # fmt: skip
    job = httpx.post(f"{server.url}/v1/jobs", json=body).json()
    done = server.wait_job(job["id"], lambda j: j["status"] == "succeeded", timeout=1200)
    assert done["accepted"] == 1 and done["progress"]["stages"]["judged"] >= 1
    generated = records(server, dataset_id, source="generated")
    assert len(generated) == 1
    for record in generated:
        judgement = record["judgement"]
        assert judgement["judge_model"] == "smollm2-135m-instruct"
        assert judgement["template"] == "judge_instruction.v1+judge_answer.v1"
        assert judgement["outcome"] == "scored" and 1.0 <= judgement["score"] <= 5.0  # min_quality 1: unread ones go
        assert record["provenance"]["category"]["confidence"] == record["category_confidence"]
    quality = httpx.get(f"{server.url}/v1/datasets/{dataset_id}/stats").json()["quality"]
    assert quality["judged_tasks"] == 1 and sum(quality["histogram"].values()) == 1
    score = generated[0]["judgement"]["score"]
    assert len(records(server, dataset_id, source="generated", min_quality=score)) == 1  # the filter reads the score
    if score < 5.0:
        assert records(server, dataset_id, source="generated", min_quality=score + 0.001) == []


def test_a_judge_job_scores_the_stored_tasks_once(server: Server, dataset_id: str) -> None:
    body = {"dataset_id": dataset_id, "method": "judge", "target": 2, "judge": {"batch": 2}}
    job = httpx.post(f"{server.url}/v1/jobs", json=body).json()
    done = server.wait_job(job["id"], lambda j: j["status"] == "succeeded", timeout=600)
    assert done["accepted"] == 2 and done["stop_reason"] == "target_reached"
    stats = httpx.get(f"{server.url}/v1/datasets/{dataset_id}/stats").json()["quality"]
    assert sum(stats["outcomes"].values()) == 1 + 2  # the first job's one, this job's two


def test_an_evol_job_keeps_lineage_and_counts_every_rule(server: Server, dataset_id: str) -> None:
    body = {"dataset_id": dataset_id, "method": "evol", "target": 1000, "seed": 5,
            "evol": {"parents_per_round": 6, "max_rounds_without_accept": 50}}  # fmt: skip
    job = httpx.post(f"{server.url}/v1/jobs", json=body).json()
    server.wait_job(job["id"], lambda j: j["progress"]["rounds"] >= 2, timeout=1200)
    httpx.post(f"{server.url}/v1/jobs/{job['id']}/cancel")
    done = server.wait_job(job["id"], lambda j: j["status"] == "cancelled", timeout=900)
    stages, reasons = done["progress"]["stages"], done["rejections_by_reason"]
    assert stages["prompts"] == 6 * done["progress"]["rounds"]
    assert sum(stages[f"{op}.in"] for op in ("add_constraints", "deepen", "concretize", "increase_reasoning",
                                              "complicate_input", "breadth")) == stages["prompts"]  # fmt: skip
    assert done["accepted"] + sum(reasons.values()) >= stages["prompts"]  # every candidate accounted for
    evolved = [r for r in records(server, dataset_id, source="generated") if r["provenance"]["job_id"] == job["id"]]
    assert len(evolved) == done["accepted"]
    for record in evolved:
        lineage = record["provenance"]
        assert stages[f"{lineage['operator']}.out"] >= 1
        assert lineage["evol_depth"] >= 1 and lineage["parent_instruction"]


STRONG = ["assert total(3) == 6", "assert total(0) == 0", "assert total(1) == 1", "assert total(10) == 55"]


def test_code_verify_tells_strong_tests_from_weak_ones(server: Server) -> None:
    solution = "def total(n):\n    s = 0\n    for i in range(1, n + 1):\n        s += i\n    return s"
    strong = httpx.post(f"{server.url}/v1/code/verify", json={"solution": solution, "tests": STRONG,
                        "entry_point": "total"}, timeout=300).json()  # fmt: skip
    weak = httpx.post(f"{server.url}/v1/code/verify", json={"solution": solution, "tests": ["assert total(0) == 0"],
                      "entry_point": "total"}, timeout=300).json()  # fmt: skip
    assert strong["status"] == weak["status"] == "passed"
    assert all(t["passed"] for t in strong["tests"]) and strong["kill_rate"] > weak["kill_rate"]
    assert len(weak["survivors"]) > len(strong["survivors"])
