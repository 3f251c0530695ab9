"""The service keeps its duplicate screens on disk: written when it stops, read back when it starts again."""

from __future__ import annotations

import json
from pathlib import Path

from litestar.testing import TestClient

from service.app import create_app
from service.settings import Settings
from tests.expectations import load_seeds

NDJSON = {"content-type": "application/x-ndjson"}


def test_a_restarted_service_reads_its_screen_back_and_deleting_the_dataset_drops_it(
    settings: Settings, seed_bytes: bytes, seed_file: Path
) -> None:
    index = Path(settings.store.data_dir) / "index"
    threshold = settings.limits.near_duplicate_threshold
    with TestClient(app=create_app(settings)) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "kept"}).json()["id"]
        answer = client.post(f"/v1/datasets/{dataset_id}/seeds", content=seed_bytes, headers=NDJSON).json()
        assert answer["added"] == 175 and answer["near_duplicates"] is not None  # checked: screen built
        fresh = json.dumps({"instruction": "Name a river in Africa and a city on its banks.", "output": "x"})
        client.post(f"/v1/datasets/{dataset_id}/seeds", content=fresh.encode(), headers=NDJSON)  # catches up 175
    assert [path.name for path in index.iterdir()] == [f"{dataset_id}@{threshold!r}.screen.arrow"]

    first = load_seeds(seed_file)[0]["instruction"]
    words = first.split()
    paraphrase = json.dumps({"instruction": " ".join([*words[:-1], "please", words[-1]]), "output": "x"})
    with TestClient(app=create_app(settings)) as client:
        answer = client.post(f"/v1/datasets/{dataset_id}/seeds", content=paraphrase.encode(), headers=NDJSON).json()
        assert answer["near_duplicates"] == 1 and answer["near_duplicate_examples"][0]["match"] == first
        screen = client.app.state.screens.shared(dataset_id, threshold)
        assert screen.saved_rows == 175 and len(screen.index) == 176  # read back, the one after it caught up
        assert client.delete(f"/v1/datasets/{dataset_id}").status_code == 204
        assert list(index.iterdir()) == []
    assert list(index.iterdir()) == []  # the deleted dataset's screen is not written back at the stop
