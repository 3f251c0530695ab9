"""`POST /v1/datasets/{id}/imports` over HTTP: the query as a spec, the body streamed, the answers and errors."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from litestar.testing import TestClient

from service.settings import Settings
from tests.service.conftest import assert_error, with_limits

ROWS = [
    {"instruction": "Give three tips for staying healthy.", "input": "", "output": "Sleep, eat well, move."},
    {"instruction": "Explain why the sky looks blue during the day.", "input": "", "output": "Rayleigh scattering."},
    {"instruction": "Convert 25 degrees Celsius to Fahrenheit.", "input": "", "output": "77 F."},
]


def jsonl(rows: list[dict]) -> bytes:
    return b"".join(json.dumps(row).encode() + b"\n" for row in rows)


def post(client: TestClient, dataset_id: str, body: bytes, **params: str):
    return client.post(f"/v1/datasets/{dataset_id}/imports", params=params, content=body,
                       headers={"content-type": "application/x-ndjson"})  # fmt: skip


def test_an_import_answers_its_report_and_is_listed(client: TestClient, dataset_id: str) -> None:
    response = post(client, dataset_id, jsonl(ROWS), source="alpaca", license="CC-BY-NC-4.0",
                    url="https://example.org/alpaca.json")  # fmt: skip
    assert response.status_code == 200, response.text
    report = response.json()
    assert (report["source"], report["layout"], report["rows"], report["added"]) == ("alpaca", "alpaca", 3, 3)
    listed = client.get(f"/v1/datasets/{dataset_id}/imports").json()["items"]
    expected = [(report["import_id"], "succeeded", "CC-BY-NC-4.0")]
    assert [(i["id"], i["status"], i["license"]) for i in listed] == expected
    one = client.get(f"/v1/datasets/{dataset_id}/imports/{report['import_id']}").json()
    assert one["report"]["added"] == 3 and one["url"] == "https://example.org/alpaca.json"
    records = client.get(f"/v1/datasets/{dataset_id}/records", params={"source": "alpaca"}).json()["items"]
    assert [r["instruction"] for r in records] == [row["instruction"] for row in ROWS]


def test_a_mapping_is_json_in_the_query(client: TestClient, dataset_id: str) -> None:
    rows = [{"q": "What is the boiling point of water at sea level?", "a": "100 C."}]
    mapping = json.dumps({"instruction": "q", "output": "a"})
    response = post(client, dataset_id, jsonl(rows), source="quiz", mapping=mapping)
    assert response.status_code == 200, response.text
    assert response.json()["layout"] == "mapping"


def test_parquet_bodies_are_read(client: TestClient, dataset_id: str) -> None:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(ROWS), buffer)
    response = client.post(f"/v1/datasets/{dataset_id}/imports", params={"source": "alpaca"}, content=buffer.getvalue(),
                           headers={"content-type": "application/vnd.apache.parquet"})  # fmt: skip
    assert response.status_code == 200, response.text
    assert response.json()["file_format"] == "parquet"


def test_bad_parameters_are_400s_that_change_nothing(client: TestClient, dataset_id: str) -> None:
    for params, code in (
        ({"source": "seed"}, "invalid_import"),  # reserved
        ({"source": "generated"}, "invalid_import"),
        ({"source": "a/b"}, None),  # not a name: Litestar's own 400 (the pattern) or ours
        ({"source": "x", "license": "not a licence!"}, "invalid_import"),
        ({"source": "x", "layout": "csv"}, "invalid_import"),
        ({"source": "x", "mapping": "{not json"}, "invalid_import"),
        ({"source": "x", "mapping": json.dumps({"output": "a"})}, "invalid_import"),  # no instruction field
        ({"source": "x", "layout": "alpaca", "mapping": json.dumps({"instruction": "q"})}, "invalid_import"),
        ({"source": "x", "turns": "some"}, "invalid_import"),
    ):
        response = post(client, dataset_id, jsonl(ROWS), **params)
        assert response.status_code == 400, (params, response.text)
        if code:
            assert_error(response, 400, code)
    assert client.get(f"/v1/datasets/{dataset_id}/imports").json()["items"] == []
    assert client.get(f"/v1/datasets/{dataset_id}/stats").json()["tasks"] == 0


def test_a_file_with_bad_lines_is_refused_whole(client: TestClient, dataset_id: str) -> None:
    body = jsonl(ROWS[:1]) + b"{oops\n" + jsonl(ROWS[1:]) + b'{"instruction": "x", "output": 5}\n'
    body = assert_error(post(client, dataset_id, body, source="alpaca", layout="alpaca"), 400, "invalid_upload")
    assert [e["line"] for e in body["extra"]["errors"]] == [2, 5]
    assert client.get(f"/v1/datasets/{dataset_id}/stats").json()["tasks"] == 0
    (failed,) = client.get(f"/v1/datasets/{dataset_id}/imports").json()["items"]
    assert failed["status"] == "failed"


def test_an_ambiguous_file_asks_for_a_layout_or_a_mapping(client: TestClient, dataset_id: str) -> None:
    rows = [{"question": "What is two plus two?", "answer": "Four."}]
    body = post(client, dataset_id, jsonl(rows), source="quiz").json()
    assert body["status_code"] == 400 and body["code"] in ("unknown_layout", "ambiguous_layout"), body
    assert body["extra"]["suggested_mappings"], body


def test_an_empty_file_and_a_missing_dataset(client: TestClient, dataset_id: str) -> None:
    assert_error(post(client, dataset_id, b"", source="alpaca", layout="alpaca"), 400, "empty_upload")
    assert_error(post(client, "ds_00000000000000000000", jsonl(ROWS), source="alpaca"), 404, "dataset_not_found")


def test_a_file_over_the_import_limit_is_a_413_and_leaves_no_file(settings: Settings, tmp_path: Path) -> None:
    from service.app import create_app

    with TestClient(app=create_app(with_limits(settings, max_import_bytes=2048))) as client:
        dataset_id = client.post("/v1/datasets", json={"name": "big"}).json()["id"]
        assert_error(post(client, dataset_id, jsonl(ROWS * 40), source="alpaca"), 413, "upload_too_large")
        spool = Path(settings.store.data_dir) / "imports"
        assert not spool.exists() or not list(spool.iterdir())
        assert client.get(f"/v1/datasets/{dataset_id}/stats").json()["tasks"] == 0
