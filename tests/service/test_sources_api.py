from __future__ import annotations

from pathlib import Path

from litestar.testing import TestClient

from tests.service.conftest import assert_error
from tests.store.conftest import task
from tests.store.snapshots.test_mix import instructions
from tests.store.test_sources import add_import, add_imported


def two_sources(client: TestClient, dataset_id: str) -> None:
    """alpaca: 100 tasks under CC-BY-NC-4.0; dolly: 30 under CC-BY-SA-3.0 (imports as the import use case records
    them); plus the uploaded seeds."""
    store = client.app.state.store
    add_import(store, dataset_id, "im_alpaca", "alpaca", "CC-BY-NC-4.0", url="https://example.org/alpaca", rows=100,
               added=100)  # fmt: skip
    add_imported(store, dataset_id, "alpaca", "im_alpaca", [task(t) for t in instructions("alpaca", 100)])
    add_import(store, dataset_id, "im_dolly", "dolly", "CC-BY-SA-3.0", rows=30, added=30)
    add_imported(store, dataset_id, "dolly", "im_dolly", [task(t) for t in instructions("dolly", 30)])


def test_sources_lists_counts_licences_and_warnings(client: TestClient, dataset_id: str, seed_bytes: bytes) -> None:
    response = client.post(f"/v1/datasets/{dataset_id}/seeds", content=seed_bytes,
                           headers={"content-type": "application/x-ndjson"})  # fmt: skip
    assert response.status_code == 200, response.text
    two_sources(client, dataset_id)
    body = client.get(f"/v1/datasets/{dataset_id}/sources").json()
    assert [(s["source"], s["tasks"], s["answered_tasks"], s["licenses"], s["imports"]) for s in body["items"]] == [
        ("alpaca", 100, 100, ["CC-BY-NC-4.0"], 1), ("dolly", 30, 30, ["CC-BY-SA-3.0"], 1),
        ("seed", 175, 175, ["NOASSERTION"], 0)]  # fmt: skip
    assert body["items"][0]["urls"] == ["https://example.org/alpaca"] and body["items"][0]["rows_imported"] == 100
    assert [w["code"] for w in body["licence_warnings"]] == [
        "non_commercial", "share_alike_non_commercial", "attribution_required", "seed_terms"]
    assert body["licence_warnings"][0]["sources"] == ["alpaca"] and "not legal advice" in body["licence_note"]
    assert_error(client.get("/v1/datasets/ds_missing/sources"), 404, "dataset_not_found")


def test_a_snapshot_with_a_mixing_recipe_over_http(client: TestClient, dataset_id: str, tmp_path: Path) -> None:
    two_sources(client, dataset_id)
    url = f"/v1/datasets/{dataset_id}/snapshots"
    recipe = {"sources": {"alpaca": {"weight": 0.5}, "dolly": {"weight": 0.5}}}
    created = client.post(url, json={"format": "messages", "seed": 1, "mix": recipe})
    assert created.status_code == 201, created.text
    manifest = created.json()["manifest"]
    assert [(g["name"], g["tasks"], g["share"], g["requested_share"]) for g in manifest["mix"]["sources"]] == [
        ("alpaca", 30, 0.5, 0.5), ("dolly", 30, 0.5, 0.5)]
    assert [(s["source"], s["tasks"], s["licenses"]) for s in manifest["sources"]] == [
        ("alpaca", 30, ["CC-BY-NC-4.0"]), ("dolly", 30, ["CC-BY-SA-3.0"])]
    assert manifest["licence_warnings"][0]["code"] == "non_commercial"
    card = client.get(f"/v1/snapshots/{created.json()['id']}/files/README.md").text
    assert "## Mixing recipe" in card and "| alpaca | weight | 0.5 | 100 | 50.0% | 30 | 50.0% |" in card
    body = assert_error(client.post(url, json={"mix": {"sources": {"alpacca": {"weight": 1}}}}), 400, "unknown_source")
    assert body["extra"]["unknown"] == ["alpacca"] and body["extra"]["known"] == ["alpaca", "dolly"]
    assert_error(client.post(url, json={"mix": {"categories": {"poetry": {"cap": 2}}}}), 400, "unknown_category")
    assert_error(client.post(url, json={"mix": {"sources": {"alpaca": {"share": 1}}}}), 400, "invalid_request")
    assert_error(client.post(url, json={"mix": {"sources": {"alpaca": {"weight": 1}}, "total": 5}}), 400,
                 "mix_total_too_small")  # fmt: skip
    assert len(client.get(url).json()["items"]) == 1  # the refused ones wrote nothing


def test_the_document_describes_sources_and_the_mix(client: TestClient) -> None:
    document = client.get("/schema/openapi.json").json()
    operation = document["paths"]["/v1/datasets/{dataset_id}/sources"]["get"]
    assert operation["operationId"] == "getDatasetSources" and {"200", "401", "404"} <= set(operation["responses"])
    schemas = document["components"]["schemas"]
    assert set(schemas["MixRecipe"]["properties"]) == {"sources", "categories", "total", "others"}
    assert set(schemas["MixShare"]["properties"]) == {"weight", "cap"}
    assert "mix" in schemas["SnapshotSpec"]["properties"]
