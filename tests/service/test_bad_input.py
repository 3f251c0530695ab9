"""Bad input gets a clear 4xx with a stable code, and changes nothing."""

from __future__ import annotations

import pytest
from litestar.testing import TestClient

from service.app import create_app
from tests.service.conftest import assert_error, with_limits

GOOD = b'{"instruction": "Name a primary color.", "output": "Red"}'
NDJSON = {"content-type": "application/x-ndjson"}


def upload(client: TestClient, dataset_id: str, body: bytes, headers=NDJSON):
    return client.post(f"/v1/datasets/{dataset_id}/seeds", content=body, headers=headers)


def assert_unchanged(client: TestClient, dataset_id: str) -> None:
    stats = client.get(f"/v1/datasets/{dataset_id}/stats").json()
    assert (stats["tasks"], stats["instances"], stats["rejections"]) == (0, 0, 0)


@pytest.mark.parametrize(
    ("body", "line", "reason"),
    [
        (GOOD + b"\n{broken json\n", 2, "invalid JSON: "),
        (GOOD + b'\n{"output": "no instruction"}', 2, "Object missing required field `instruction`"),
        (b'{"instruction": ["a"], "output": "x"}\n' + GOOD, 1, "Expected `str`, got `array` - at `$.instruction`"),
        (GOOD + b'\n{"instruction": "Good", "output": "x", "is_classification": "yes"}', 2, "Expected `bool`"),
        (
            GOOD + b'\n{"instruction": "Name one", "instances": [{"input": "a", "output": 5}]}',
            2,
            "Expected `str`, got `int` - at `$.instances[0].output`",
        ),
    ],
)
def test_a_bad_line_rejects_the_whole_upload(client: TestClient, dataset_id: str, body: bytes, line: int, reason: str):
    error = assert_error(upload(client, dataset_id, body), 400, "invalid_upload")
    assert error["extra"]["error_count"] == 1
    [found] = error["extra"]["errors"]
    assert found["line"] == line and found["reason"].startswith(reason)
    assert_unchanged(client, dataset_id)


def test_every_bad_line_is_listed(client: TestClient, dataset_id: str) -> None:
    body = b"\n".join([b"{", GOOD, b"[]", b'"text"', b"{}"])
    error = assert_error(upload(client, dataset_id, body), 400, "invalid_upload")
    assert [e["line"] for e in error["extra"]["errors"]] == [1, 3, 4, 5]
    assert_unchanged(client, dataset_id)


def test_json_array_errors_name_the_item(client: TestClient, dataset_id: str) -> None:
    response = client.post(
        f"/v1/datasets/{dataset_id}/seeds", json=[{"instruction": "Ok task", "output": "y"}, {"x": 1}]
    )
    error = assert_error(response, 400, "invalid_upload")
    assert [e["item"] for e in error["extra"]["errors"]] == [2]
    assert_unchanged(client, dataset_id)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"", "application/x-ndjson"),
        (b"\n \n", "application/x-ndjson"),
        (b"", "application/json"),
        (b"[]", "application/json"),
    ],
)
def test_empty_upload(client: TestClient, dataset_id: str, body: bytes, content_type: str) -> None:
    assert_error(upload(client, dataset_id, body, {"content-type": content_type}), 400, "empty_upload")
    assert_unchanged(client, dataset_id)


def test_unsupported_media_type(client: TestClient, dataset_id: str) -> None:
    assert_error(
        upload(client, dataset_id, b"instruction,output\na,b", {"content-type": "text/csv"}),
        415,
        "unsupported_media_type",
    )
    assert_unchanged(client, dataset_id)


def test_huge_body_is_refused(client: TestClient, dataset_id: str, settings) -> None:
    huge = (GOOD + b"\n") * (settings.limits.max_body_bytes // len(GOOD) + 10)
    assert_error(upload(client, dataset_id, huge), 413, "body_too_large")
    assert_error(
        client.post(
            "/v1/datasets",
            content=b'{"name": "' + b"a" * settings.limits.max_body_bytes + b'"}',
            headers={"content-type": "application/json"},
        ),
        413,
        "body_too_large",
    )
    assert_unchanged(client, dataset_id)


def test_body_limit_is_a_setting(settings, dataset_id: str) -> None:
    with TestClient(app=create_app(with_limits(settings, max_body_bytes=1024))) as small:
        ds = small.post("/v1/datasets", json={"name": "small"}).json()["id"]
        assert upload(small, ds, GOOD).status_code == 200
        assert_error(upload(small, ds, (GOOD + b"\n") * 30), 413, "body_too_large")


def test_text_limits_are_settings(settings) -> None:
    with TestClient(app=create_app(with_limits(settings, max_instruction_chars=20))) as small:
        ds = small.post("/v1/datasets", json={"name": "small"}).json()["id"]
        error = assert_error(upload(small, ds, GOOD), 400, "invalid_upload")
        assert error["extra"]["errors"] == [{"line": 1, "reason": "instruction is longer than 20 characters"}]


def test_unknown_dataset(client: TestClient) -> None:
    assert_error(upload(client, "ds_missing", GOOD), 404, "dataset_not_found")


def test_bad_export_format(client: TestClient, dataset_id: str) -> None:
    error = assert_error(
        client.get(f"/v1/datasets/{dataset_id}/export", params={"format": "csv"}), 400, "invalid_request"
    )
    assert "csv" in str(error["extra"])
