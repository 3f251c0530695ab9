from __future__ import annotations

from litestar.testing import TestClient

from tests.service.conftest import assert_error


def test_health_is_liveness_only_and_ready_says_when_the_api_can_serve(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/ready").json() == {"status": "ready"}  # ENGINE=none: the API is ready without generation
    assert client.get("/v1/engine").json() == {
        "status": "not_configured",
        "detail": "generation is switched off (INSTRUCTFORGE_ENGINE=none)",
        "endpoints": [],
    }


def test_create_read_list_delete(client: TestClient) -> None:
    created = client.post("/v1/datasets", json={"name": "alpha", "description": "first"})
    assert created.status_code == 201
    body = created.json()
    assert body["id"].startswith("ds_") and isinstance(body["id"], str)
    assert (body["name"], body["description"], body["tasks"], body["instances"]) == ("alpha", "first", 0, 0)
    assert client.get(f"/v1/datasets/{body['id']}").json() == body
    assert client.get("/v1/datasets").json() == {"items": [body], "next": None}
    assert client.delete(f"/v1/datasets/{body['id']}").status_code == 204
    assert_error(client.get(f"/v1/datasets/{body['id']}"), 404, "dataset_not_found")
    assert client.get("/v1/datasets").json() == {"items": [], "next": None}


def test_list_pages_in_creation_order(client: TestClient) -> None:
    ids = [client.post("/v1/datasets", json={"name": f"d{n}"}).json()["id"] for n in range(5)]
    first = client.get("/v1/datasets", params={"limit": 2}).json()
    assert [d["id"] for d in first["items"]] == ids[:2] and first["next"] == ids[1]
    second = client.get("/v1/datasets", params={"limit": 2, "cursor": first["next"]}).json()
    third = client.get("/v1/datasets", params={"limit": 2, "cursor": second["next"]}).json()
    assert [d["id"] for d in second["items"] + third["items"]] == ids[2:]
    assert third["next"] is None


def test_duplicate_name_conflicts(client: TestClient) -> None:
    client.post("/v1/datasets", json={"name": "alpha"})
    assert_error(client.post("/v1/datasets", json={"name": "alpha"}), 409, "dataset_exists")


def test_bad_bodies(client: TestClient) -> None:
    unknown = assert_error(client.post("/v1/datasets", json={"name": "a", "colour": "red"}), 400, "invalid_request")
    assert "unknown field `colour`" in str(unknown["extra"])
    assert_error(client.post("/v1/datasets", json={"name": ""}), 400, "invalid_request")
    assert_error(client.post("/v1/datasets", json={"name": "has space"}), 400, "invalid_request")
    assert_error(client.post("/v1/datasets", json={"name": 5}), 400, "invalid_request")
    assert_error(client.post("/v1/datasets", json={}), 400, "invalid_request")
    assert_error(
        client.post("/v1/datasets", content=b"{nope", headers={"content-type": "application/json"}),
        400,
        "invalid_request",
    )
    assert client.get("/v1/datasets").json()["items"] == []


def test_unknown_ids_and_routes(client: TestClient) -> None:
    for path in (
        "/v1/datasets/ds_missing",
        "/v1/datasets/ds_missing/stats",
        "/v1/datasets/ds_missing/records",
        "/v1/datasets/ds_missing/export",
    ):
        assert_error(client.get(path), 404, "dataset_not_found")
    assert_error(client.delete("/v1/datasets/ds_missing"), 404, "dataset_not_found")
    assert_error(
        client.post("/v1/datasets/ds_missing/seeds", content=b'{"instruction":"a b","output":"c"}'),
        404,
        "dataset_not_found",
    )
    assert_error(client.get("/v1/nothing-here"), 404, "not_found")
    assert_error(client.put("/v1/datasets"), 405, "method_not_allowed")


def test_paging_parameters_are_checked(client: TestClient, dataset_id: str) -> None:
    assert_error(client.get("/v1/datasets", params={"limit": 0}), 400, "invalid_request")  # the schema's bound
    assert_error(client.get("/v1/datasets", params={"limit": 201}), 400, "invalid_limit")  # the setting's
    assert_error(client.get(f"/v1/datasets/{dataset_id}/records", params={"cursor": "abc"}), 400, "invalid_request")
    assert_error(client.get(f"/v1/datasets/{dataset_id}/records", params={"limit": "many"}), 400, "invalid_request")


def test_openapi_is_served(client: TestClient) -> None:
    schema = client.get("/schema/openapi.json").json()
    assert schema["info"]["title"] == "InstructForge"
    assert {"/health", "/v1/datasets", "/v1/datasets/{dataset_id}/seeds", "/v1/datasets/{dataset_id}/export"} <= set(
        schema["paths"]
    )
