"""The 175 real self-instruct seed tasks through the API: upload, stats and the four exports, exactly."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.settings import EngineSettings, LimitsSettings, Settings, StoreSettings
from store.export import EXPORT_FORMATS
from tests.expectations import expected_line, instance_rows, length_summary, load_seeds
from tests.service.conftest import assert_error

NDJSON = {"content-type": "application/x-ndjson"}


@pytest.fixture
def uploaded(client: TestClient, dataset_id: str, seed_bytes: bytes) -> str:
    response = client.post(f"/v1/datasets/{dataset_id}/seeds", content=seed_bytes, headers=NDJSON)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["upload_id"].startswith("up_")
    assert {
        k: body[k] for k in ("received", "added", "instances_added", "duplicates_skipped", "duplicate_positions")
    } == {"received": 175, "added": 175, "instances_added": 175, "duplicates_skipped": 0, "duplicate_positions": []}
    return dataset_id


def test_stats_of_the_175_seed_tasks(client: TestClient, uploaded: str, seed_file: Path) -> None:
    seeds, rows = load_seeds(seed_file), instance_rows(load_seeds(seed_file))
    stats = client.get(f"/v1/datasets/{uploaded}/stats").json()

    balance, code, quality = stats.pop("balance"), stats.pop("code"), stats.pop("quality")
    assert code is None and quality is None  # no code task, nothing judged
    assert stats.pop("labels") is None  # the paper's seeds carry no categories: nothing to label from
    assert balance == client.get(f"/v1/datasets/{uploaded}/balance").json()  # 175 < both verb samples
    assert balance["dimensions"]["classification"]["counts"] == {"classification": 26, "other": 149}
    assert client.get(f"/v1/datasets/{uploaded}/stats", params={"balance": "false"}).json()["balance"] is None
    assert stats == {
        "dataset_id": uploaded,
        "tasks": 175,
        "instances": 175,
        "instances_with_input": 125,
        "by_source": {"seed": 175},
        "by_category": {"uncategorized": 175},
        "classification": {"count": 26, "share": 0.1486},
        "lengths": {
            "instruction": length_summary([len(s["instruction"].strip()) for s in seeds]),
            "input": length_summary([len(r[1]) for r in rows]),
            "output": length_summary([len(r[2]) for r in rows]),
        },
        "duplicates_skipped": 0,
        "rejections": 0,
        "rejections_by_reason": {},
        "unanswered": 0,
        "sources": {"seed": {"tasks": 175, "instances": 175, "unanswered": 0}},
    }
    assert client.get(f"/v1/datasets/{uploaded}").json()["tasks"] == 175


def test_a_second_upload_is_all_duplicates(client: TestClient, uploaded: str, seed_bytes: bytes) -> None:
    again = client.post(f"/v1/datasets/{uploaded}/seeds", content=seed_bytes, headers=NDJSON).json()
    assert (again["added"], again["duplicates_skipped"], len(again["duplicate_positions"])) == (0, 175, 100)
    stats = client.get(f"/v1/datasets/{uploaded}/stats").json()
    assert (stats["tasks"], stats["duplicates_skipped"], stats["rejections_by_reason"]) == (
        175,
        175,
        {"exact_duplicate": 175},
    )


@pytest.mark.parametrize("fmt", EXPORT_FORMATS)
def test_exports_match_the_seed_file_and_load_with_datasets(
    client: TestClient, uploaded: str, seed_file: Path, tmp_path: Path, fmt: str
) -> None:
    response = client.get(f"/v1/datasets/{uploaded}/export", params={"format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    assert f'filename="{uploaded}-{fmt}.jsonl"' in response.headers["content-disposition"]
    lines = response.content.decode().split("\n")
    assert lines.pop() == ""
    expected = [expected_line(fmt, *row) for row in instance_rows(load_seeds(seed_file))]
    assert [json.loads(line) for line in lines] == expected

    path = tmp_path / f"{fmt}.jsonl"
    path.write_bytes(response.content)
    loaded = datasets.load_dataset("json", data_files=str(path), split="train", cache_dir=str(tmp_path / "hf"))
    assert loaded.num_rows == 175
    assert loaded.column_names == list(expected[0])
    assert loaded[0] == expected[0]


def test_records_page_through_every_seed_once(client: TestClient, uploaded: str, seed_file: Path) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 40} | ({"cursor": cursor} if cursor else {})
        page = client.get(f"/v1/datasets/{uploaded}/records", params=params).json()
        seen += page["items"]
        cursor = page["next"]
        if cursor is None:
            break
    seeds = load_seeds(seed_file)
    assert [r["instruction"] for r in seen] == [s["instruction"].strip() for s in seeds]
    first = seen[0]
    assert isinstance(first["id"], str)
    assert (first["source"], first["category"], first["is_classification"]) == ("seed", "uncategorized", False)
    assert first["instances"] == seeds[0]["instances"]
    assert first["provenance"]["seed_id"] == "seed_task_0"


def test_records_filter_classification(client: TestClient, uploaded: str) -> None:
    page = client.get(f"/v1/datasets/{uploaded}/records", params={"classification": "true", "limit": 200}).json()
    assert len(page["items"]) == 26 and all(r["is_classification"] for r in page["items"])
    assert page["next"] is None
    generated = client.get(f"/v1/datasets/{uploaded}/records", params={"source": "generated"}).json()
    assert generated == {"items": [], "next": None}
    # any import's source name is a filter (none here yet); a string that cannot be a source name is refused
    invented = client.get(f"/v1/datasets/{uploaded}/records", params={"source": "invented"})
    assert (invented.status_code, invented.json()) == (200, {"items": [], "next": None})
    assert_error(client.get(f"/v1/datasets/{uploaded}/records", params={"source": "../x"}), 400, "invalid_request")


def test_json_array_upload_with_categories(client: TestClient, dataset_id: str) -> None:
    body = [
        {
            "instruction": "Is this review positive?",
            "input": "Great!",
            "output": "yes",
            "is_classification": True,
            "category": "Classification",
        },
        {"instruction": "Write a haiku about rain.", "output": "Soft rain on the roof", "category": "writing"},
    ]
    answer = client.post(f"/v1/datasets/{dataset_id}/seeds", json=body).json()
    assert answer["added"] == 2
    stats = client.get(f"/v1/datasets/{dataset_id}/stats").json()
    assert stats["by_category"] == {"classification": 1, "writing": 1}
    only = client.get(f"/v1/datasets/{dataset_id}/export", params={"format": "alpaca", "category": "writing"})
    assert [json.loads(line)["instruction"] for line in only.text.splitlines()] == ["Write a haiku about rain."]


def test_seed_uploads_report_near_duplicates_without_rejecting_them(
    client: TestClient, uploaded: str, seed_file: Path
) -> None:
    first = load_seeds(seed_file)[0]["instruction"]
    words = first.split()
    paraphrase = " ".join([*words[:-1], "please", words[-1]])  # one word more: ROUGE-L well above 0.7
    fresh = "Name a mountain range in South America and one animal that lives there."
    body = "\n".join(json.dumps({"instruction": text, "output": "x"}) for text in (paraphrase, fresh, fresh + " Why?"))
    answer = client.post(f"/v1/datasets/{uploaded}/seeds", content=body.encode(), headers=NDJSON).json()
    assert answer["added"] == 3 and answer["near_duplicates"] == 2
    first_report, second_report = answer["near_duplicate_examples"]
    assert (first_report["position"], first_report["match"]) == (1, first) and first_report["rouge_l"] > 0.7
    assert (second_report["position"], second_report["match"]) == (3, fresh)


def test_near_duplicate_checks_stop_past_the_configured_size(tmp_path: Path, seed_bytes: bytes) -> None:
    settings = Settings(
        store=StoreSettings(data_dir=str(tmp_path / "data")),
        limits=LimitsSettings(seed_near_duplicate_check_max=100),
        engine=EngineSettings(kind="none", default_dataset=False),
    )
    with TestClient(app=create_app(settings)) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "big"}).json()["id"]
        answer = client.post(f"/v1/datasets/{dataset_id}/seeds", content=seed_bytes, headers=NDJSON).json()
    assert answer["added"] == 175 and answer["near_duplicates"] is None


def test_extra_fields_are_kept_and_counted_in_the_answer(client: TestClient, dataset_id: str) -> None:
    """The self-instruct paper's user-oriented file layout (`id`, `motivation_app`) uploads as it is."""
    lines = [
        {"id": "user_oriented_task_0", "motivation_app": "Grammarly", "instruction": "Fix the grammar.",
         "instances": [{"input": "he go home", "output": "He goes home.", "note": "ignored"}]},
        {"id": "user_oriented_task_1", "motivation_app": "Spotify", "instruction": "Name a song for a rainy day.",
         "instances": [{"input": "", "output": "Riders on the Storm"}]},
    ]  # fmt: skip
    body = "\n".join(json.dumps(line) for line in lines).encode()
    answer = client.post(f"/v1/datasets/{dataset_id}/seeds", content=body, headers=NDJSON).json()
    assert (answer["added"], answer["extra_fields"], answer["ignored_fields"]) == (
        2, {"motivation_app": 2}, {"instances[].note": 1})  # fmt: skip
    records = client.get(f"/v1/datasets/{dataset_id}/records").json()["items"]
    assert [r["provenance"]["metadata"] for r in records] == [{"motivation_app": "Grammarly"},
                                                              {"motivation_app": "Spotify"}]  # fmt: skip
