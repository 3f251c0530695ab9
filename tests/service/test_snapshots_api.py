from __future__ import annotations

import hashlib
import json
from pathlib import Path

from litestar.testing import TestClient

from service.settings import Settings
from tests.service.conftest import assert_error


def upload(client: TestClient, dataset_id: str, body: bytes) -> None:
    response = client.post(f"/v1/datasets/{dataset_id}/seeds", content=body,
                           headers={"content-type": "application/x-ndjson"})  # fmt: skip
    assert response.status_code == 200, response.text


def test_snapshot_round_trip_over_http(client: TestClient, dataset_id: str, seed_bytes: bytes) -> None:
    upload(client, dataset_id, seed_bytes)
    created = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={"format": "messages", "seed": 5})
    assert created.status_code == 201, created.text
    snap = created.json()
    assert snap["number"] == 1 and snap["format"] == "messages" and snap["dataset_id"] == dataset_id
    assert client.get(f"/v1/snapshots/{snap['id']}").json() == snap
    assert [s["id"] for s in client.get(f"/v1/datasets/{dataset_id}/snapshots").json()["items"]] == [snap["id"]]
    total = 0
    for entry in snap["files"]:
        response = client.get(entry["url"])
        assert response.status_code == 200
        assert hashlib.sha256(response.content).hexdigest() == entry["sha256"]
        total += len(response.content.splitlines())
    assert total == 175
    assert [d["name"] for d in snap["documents"]] == ["manifest.json", "dataset_info.json", "README.md"]
    documents = {d["name"]: client.get(d["url"]) for d in snap["documents"]}
    assert all(response.status_code == 200 for response in documents.values())
    manifest = documents["manifest.json"].json()
    assert manifest["content_sha256"] == snap["content_sha256"] and manifest["balance"]["tasks"] == 175
    card = documents["README.md"]
    assert card.headers["content-type"].startswith("text/markdown") and "snapshot 1" in card.text
    upload(client, dataset_id, b'{"instruction": "List five birds that cannot fly.", "output": "Emu, kiwi..."}\n')
    again = client.get(snap["files"][0]["url"])
    assert hashlib.sha256(again.content).hexdigest() == snap["files"][0]["sha256"]


def test_bad_snapshot_requests_change_nothing(client: TestClient, dataset_id: str) -> None:
    url = f"/v1/datasets/{dataset_id}/snapshots"
    assert_error(client.post(url, json={"format": "csv"}), 400, "invalid_request")
    assert_error(client.post(url, json={"validation_fraction": 0.9}), 400, "invalid_request")
    assert_error(client.post(url, json={"shuffle": True}), 400, "invalid_request")
    assert_error(client.post("/v1/datasets/ds_missing/snapshots", json={}), 404, "dataset_not_found")
    assert client.get(url).json() == {"items": []}
    assert_error(client.get("/v1/snapshots/sn_missing"), 404, "snapshot_not_found")


def test_only_a_snapshots_own_files_can_be_downloaded(client: TestClient, dataset_id: str, seed_bytes: bytes) -> None:
    upload(client, dataset_id, seed_bytes)
    snap = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={}).json()
    for name in ("code_tests.jsonl", "secrets.txt"):
        assert_error(client.get(f"/v1/snapshots/{snap['id']}/files/{name}"), 404, "snapshot_file_not_found")
    escaped = client.get(f"/v1/snapshots/{snap['id']}/files/..%2F..%2Finstructforge.duckdb")
    assert escaped.status_code == 404 and escaped.json()["code"] in ("not_found", "snapshot_file_not_found")


def test_registered_benchmarks_keep_contaminated_tasks_out_of_snapshots(
    client: TestClient, dataset_id: str, seed_bytes: bytes
) -> None:
    upload(client, dataset_id, seed_bytes)
    leaked = json.loads(seed_bytes.splitlines()[10])["instruction"]  # planted whole, as a benchmark prompt
    span = "Given a list of integers, return the sum of every second element, starting from the first one, in order"
    benchmark = b"\n".join(
        json.dumps(record).encode()
        for record in (
            {"task_id": "Bench/0", "prompt": leaked + " Then explain your answer carefully to a friend.", "test": "x"},
            {"task_id": "Bench/1", "prompt": span, "canonical_solution": "return sum(xs[::2])"},
        )
    )
    registered = client.post("/v1/benchmarks", params={"name": "bench"}, content=benchmark)
    assert registered.status_code == 201, registered.text
    assert registered.json()["records"] == 2
    assert_error(client.post("/v1/benchmarks", params={"name": "bench"}, content=benchmark), 409, "benchmark_exists")
    bad = client.post("/v1/benchmarks", params={"name": "broken"}, content=b'{"prompt": "ok"}\nnot json\n')
    assert assert_error(bad, 400, "invalid_benchmark")["extra"]["errors"][0]["line"] == 2
    assert [b["name"] for b in client.get("/v1/benchmarks").json()["items"]] == ["bench"]

    snap = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={}).json()
    report = snap["manifest"]["contamination"]
    assert report["benchmarks"][0]["benchmark"] == "bench" and report["benchmarks"][0]["tasks"] >= 1
    assert snap["manifest"]["selection"]["excluded_contaminated"] == len(report["contaminated_task_ids"]) >= 1
    kept = snap["counts"]["train"]["tasks"] + snap["counts"]["validation"]["tasks"]
    assert kept == 175 - len(report["contaminated_task_ids"])
    lines = b"".join(client.get(f["url"]).content for f in snap["files"]).decode()
    assert json.dumps(leaked)[1:-1] not in lines
    kept_all = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={"exclude_contaminated": False}).json()
    assert kept_all["counts"]["train"]["tasks"] + kept_all["counts"]["validation"]["tasks"] == 175

    assert client.delete("/v1/benchmarks/bench").status_code == 204
    assert_error(client.get("/v1/benchmarks/bench"), 404, "benchmark_not_found")


def test_an_empty_selection_is_refused_and_changes_nothing(
    client: TestClient, dataset_id: str, settings: Settings
) -> None:
    url = f"/v1/datasets/{dataset_id}/snapshots"
    body = assert_error(client.post(url, json={"format": "messages"}), 409, "empty_selection")
    assert body["extra"] == {"matched": 0, "excluded_contaminated": 0, "format": "messages"}
    upload(client, dataset_id, b'{"instruction": "List five birds that cannot fly.", "output": "Emu, kiwi..."}\n')
    assert_error(client.post(url, json={"category": "no-such-category"}), 409, "empty_selection")
    assert assert_error(client.post(url, json={"source": "generated"}), 409, "empty_selection")["extra"]["matched"] == 0
    assert client.get(url).json() == {"items": []}
    snapshots = Path(settings.store.data_dir) / "snapshots"
    assert not snapshots.exists() or not any(snapshots.iterdir())
    assert client.post(url, json={}).json()["number"] == 1  # the numbers were not used up by the refusals


def test_a_system_prompt_opens_every_conversation(client: TestClient, dataset_id: str) -> None:
    upload(client, dataset_id, b'{"instruction": "List five birds that cannot fly.", "output": "Emu, kiwi..."}\n')
    url = f"/v1/datasets/{dataset_id}/snapshots"
    snap = client.post(url, json={"format": "sharegpt", "system_prompt": "Answer in one line."})
    assert snap.status_code == 201, snap.text
    train = next(f for f in snap.json()["files"] if f["name"] == "train.jsonl")
    first = json.loads(client.get(train["url"]).content.splitlines()[0])
    assert first["conversations"][0] == {"from": "system", "value": "Answer in one line."}
    assert client.get(f"/v1/snapshots/{snap.json()['id']}/files/manifest.json").json()["spec"]["system_prompt"] == (
        "Answer in one line."
    )
    bad_bodies = [
        {"format": "alpaca", "system_prompt": "x"}, {"format": "messages", "system_prompt": "  "},
        {"format": "messages", "system_prompt": "x" * 4001}, {"system_prompt": None, "system": "x"},
    ]  # fmt: skip
    for bad in bad_bodies:
        assert_error(client.post(url, json=bad), 400, "invalid_request")
    assert len(client.get(url).json()["items"]) == 1
