"""Hostile input through the API: every case answers 4xx with the error shape, and changes nothing."""

from __future__ import annotations

import io
import logging

import msgspec
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.log_redaction import redacting_factory
from service.settings import EngineSettings, SettingsError, public_settings, settings_from_env
from tests.service.conftest import assert_error

DEEP = 1_000
DEEP_ARRAY = b"[" * DEEP + b"]" * DEEP
NDJSON = {"content-type": "application/x-ndjson"}
JSON = {"content-type": "application/json"}
SEED = b'{"instruction": "Name a primary color.", "output": "Red"}'
SECRET = "hunter2"
REMOTE = f"http://u:{SECRET}@127.0.0.1:9/?token={SECRET}"


def assert_refused(response, *codes: str) -> None:
    """A 400 with the error shape; the schema's check says invalid_request, the handler's own a finer code."""
    body = assert_error(response, 400, response.json().get("code", ""))
    assert body["code"] in codes, body


def assert_nothing_written(client: TestClient, dataset_id: str) -> None:
    assert [d["id"] for d in client.get("/v1/datasets").json()["items"]] == [dataset_id]
    stats = client.get(f"/v1/datasets/{dataset_id}/stats").json()
    assert (stats["tasks"], stats["rejections"]) == (0, 0)
    assert client.get(f"/v1/datasets/{dataset_id}/snapshots").json() == {"items": []}
    assert client.get("/v1/benchmarks").json() == {"items": []}
    assert client.get("/v1/jobs").json()["items"] == []


def test_json_nested_a_thousand_deep_is_a_400_on_every_json_endpoint(client: TestClient, dataset_id: str) -> None:
    deep_object = b'{"name": ' + DEEP_ARRAY + b"}"
    cases = [
        ("/v1/datasets", deep_object, JSON, "invalid_request"),
        ("/v1/datasets", DEEP_ARRAY, JSON, "invalid_request"),
        ("/v1/jobs", b'{"dataset_id": "%s", "target": 1, "rules": %s}' % (dataset_id.encode(), DEEP_ARRAY), JSON,
         "invalid_request"),
        (f"/v1/datasets/{dataset_id}/snapshots", deep_object, JSON, "invalid_request"),
        (f"/v1/datasets/{dataset_id}/seeds", b"[" + DEEP_ARRAY + b"]", JSON, "invalid_upload"),
        (f"/v1/datasets/{dataset_id}/seeds", SEED + b"\n" + DEEP_ARRAY, NDJSON, "invalid_upload"),
        ("/v1/benchmarks?name=deep", b'{"prompt": "a benchmark text"}\n' + DEEP_ARRAY, NDJSON, "invalid_benchmark"),
    ]  # fmt: skip
    for path, body, headers, code in cases:
        error = assert_error(client.post(path, content=body, headers=headers), 400, code)
        assert "nested too deeply" in msgspec.json.encode(error).decode(), (path, error)
    assert_nothing_written(client, dataset_id)


def test_benchmark_texts_nested_below_the_decoder_limit_are_read_without_recursion(client: TestClient) -> None:
    nested = b'{"a": ' + b"[" * 900 + b'"deep benchmark text"' + b"]" * 900 + b"}"
    registered = client.post("/v1/benchmarks", params={"name": "nested"}, content=nested)
    assert registered.status_code == 201, registered.text
    assert registered.json()["texts"] == 1


@pytest.mark.parametrize("cursor", ["²", "٣", "-1", "+1", " 1", "1 ", "1\n", "0x1", "1" * 19, "1.0", ""])
def test_task_cursors_are_ascii_digits_of_bounded_length(client: TestClient, dataset_id: str, cursor: str) -> None:
    response = client.get(f"/v1/datasets/{dataset_id}/records", params={"cursor": cursor})
    assert_refused(response, "invalid_request", "invalid_cursor")


@pytest.mark.parametrize("cursor", ["²", "ds_x", "ds_" + "0" * 19 + "\n", "' OR 1=1 --", "z" * 30])
def test_dataset_and_job_cursors_are_ids(client: TestClient, cursor: str) -> None:
    assert_refused(client.get("/v1/datasets", params={"cursor": cursor}), "invalid_request", "invalid_cursor")
    job_cursor = cursor.replace("ds_", "job_")
    assert_refused(client.get("/v1/jobs", params={"cursor": job_cursor}), "invalid_request", "invalid_cursor")


def test_cursors_page_through_everything_once(client: TestClient) -> None:
    made = sorted(client.post("/v1/datasets", json={"name": f"d{n}"}).json()["id"] for n in range(5))
    seen, cursor = [], None
    while True:
        page = client.get("/v1/datasets", params={"limit": 2, **({"cursor": cursor} if cursor else {})}).json()
        seen += [d["id"] for d in page["items"]]
        if (cursor := page["next"]) is None:
            break
    assert seen == made


# Every query parameter of every route, out of its bounds (path parameters too long to be an id).
OUT_OF_BOUNDS = [
    ("/v1/datasets", {"limit": "0"}), ("/v1/datasets", {"limit": "10001"}), ("/v1/datasets", {"limit": "1.5"}),
    ("/v1/jobs", {"limit": "-1"}), ("/v1/jobs", {"dataset_id": "x" * 65}), ("/v1/jobs", {"dataset_id": ""}),
    ("/v1/datasets/{ds}/records", {"limit": "nan"}), ("/v1/datasets/{ds}/records", {"source": "a b"}),
    ("/v1/datasets/{ds}/records", {"category": "c" * 65}), ("/v1/datasets/{ds}/records", {"category": ""}),
    ("/v1/datasets/{ds}/records", {"classification": "maybe"}), ("/v1/datasets/{ds}/stats", {"balance": "2"}),
    ("/v1/datasets/{ds}/balance", {"share_limit": "-5"}), ("/v1/datasets/{ds}/balance", {"share_limit": "99"}),
    ("/v1/datasets/{ds}/balance", {"share_limit": "inf"}), ("/v1/datasets/{ds}/balance", {"share_limit": "nan"}),
    ("/v1/datasets/{ds}/balance", {"share_limit": "0"}), ("/v1/datasets/{ds}/export", {"format": "csv"}),
    ("/v1/datasets/{ds}/export", {"source": "../x"}), ("/v1/datasets/{ds}/export", {"category": "c" * 65}),
    ("/v1/datasets/" + "d" * 65, {}), ("/v1/jobs/" + "j" * 65, {}), ("/v1/snapshots/" + "s" * 65, {}),
    ("/v1/benchmarks/a%20b", {}), ("/v1/benchmarks/" + "b" * 101, {}),
]  # fmt: skip


@pytest.mark.parametrize(("path", "params"), OUT_OF_BOUNDS)
def test_query_and_path_parameters_hold_their_bounds(client: TestClient, dataset_id: str, path: str, params) -> None:
    assert_error(client.get(path.format(ds=dataset_id), params=params), 400, "invalid_request")


def test_share_limit_in_bounds_is_used(client: TestClient, dataset_id: str) -> None:
    assert client.get(f"/v1/datasets/{dataset_id}/balance", params={"share_limit": "0.3"}).json()["share_limit"] == 0.3


@pytest.mark.parametrize("name", ["a/b", "../../x", "x\u202e", "x\n", " x", ".x", "é", "x" * 101, ""])
def test_benchmark_names_follow_the_one_pattern(client: TestClient, dataset_id: str, name: str) -> None:
    response = client.post("/v1/benchmarks", params={"name": name}, content=b'{"prompt": "some benchmark text"}')
    assert_refused(response, "invalid_request", "invalid_name")
    assert_nothing_written(client, dataset_id)


def test_dataset_names_follow_the_same_pattern(client: TestClient, dataset_id: str) -> None:
    for name in ("a/b", "x\u202e", "x\n", 5, ["x"]):
        assert_refused(client.post("/v1/datasets", json={"name": name}), "invalid_request", "invalid_name")
    assert_nothing_written(client, dataset_id)


@pytest.mark.parametrize(
    "body",
    [
        {"seed": "5"}, {"validation_fraction": "0.1"}, {"exclude_contaminated": "false"}, {"verified_only": 1},
        {"seed": -1}, {"validation_fraction": 0.9}, {"per_category_cap": 0}, {"near_duplicate_threshold": 5},
        {"balance_share_limit": "nan"}, {"benchmarks": ["a/b"]}, {"benchmarks": ["x", "x"]}, {"shuffle": True},
        {"category": ""}, {"format": "csv"}, [],
    ],
)  # fmt: skip
def test_snapshot_requests_are_strict(client: TestClient, dataset_id: str, body) -> None:
    client.post(f"/v1/datasets/{dataset_id}/seeds", content=SEED, headers=NDJSON)
    assert_error(client.post(f"/v1/datasets/{dataset_id}/snapshots", json=body), 400, "invalid_request")
    assert client.get(f"/v1/datasets/{dataset_id}/snapshots").json() == {"items": []}


def test_405_says_what_is_allowed(client: TestClient) -> None:
    response = client.put("/v1/datasets")
    assert_error(response, 405, "method_not_allowed")
    assert set(response.headers["allow"].replace(" ", "").split(",")) >= {"GET", "POST"}


def test_open_endpoints_say_only_what_a_probe_needs(settings, tmp_path) -> None:
    keyed = msgspec.structs.replace(
        settings,
        server=msgspec.structs.replace(settings.server, api_keys=("k1",)),
        engine=EngineSettings(kind="remote", endpoints=(REMOTE,), default_dataset=False, start_timeout_s=60),
    )
    with TestClient(app=create_app(keyed)) as client:
        health = client.get("/health")
        assert health.json() == {"status": "ok"}
        assert_error(client.get("/ready"), 503, "engine_starting")
        unauthorized = client.get("/v1/engine")
        assert_error(unauthorized, 401, "unauthorized")
        assert unauthorized.headers["www-authenticate"].startswith("Bearer")
        key = {"X-API-Key": "k1"}
        engine = client.get("/v1/engine", headers=key).json()
        assert engine["status"] == "starting"
        dataset_id = client.post("/v1/datasets", json={"name": "d"}, headers=key).json()["id"]
        job = client.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 1, "endpoints": [REMOTE]}, headers=key)
        assert job.status_code == 202, job.text
        assert job.json()["params"]["endpoints"] == ["http://***@127.0.0.1:9?***"]  # in normal form, redacted
        listed = client.get("/v1/jobs", headers=key).text
        for text in (health.text, client.get("/ready").text, engine["detail"], job.text, listed):
            assert SECRET not in text and str(tmp_path) not in text


def test_log_records_are_redacted_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    logger = logging.getLogger("instructforge.test_redaction")
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    previous = logging.getLogRecordFactory()
    logging.setLogRecordFactory(redacting_factory(previous))
    try:
        logger.error("engine ready at %s", REMOTE)
        try:
            raise ConnectionError(f"failed on {REMOTE}")
        except ConnectionError:
            logger.exception("engine failed")
    finally:
        logging.setLogRecordFactory(previous)
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert "engine ready at http://***@127.0.0.1:9/?***" in text and "ConnectionError: failed on http://***@" in text
    assert SECRET not in text


def test_printed_settings_and_setting_errors_hide_keys_and_endpoint_credentials() -> None:
    env = {
        "INSTRUCTFORGE_API_KEYS": f"{SECRET},k2",
        "INSTRUCTFORGE_ENGINE": "remote",
        "INSTRUCTFORGE_ENDPOINTS": REMOTE,
    }
    shown = public_settings(settings_from_env(env))
    assert shown["server"]["api_keys"] == ["***", "***"]
    assert shown["engine"]["endpoints"] == ["http://***@127.0.0.1:9?***"]  # in normal form, redacted
    with pytest.raises(SettingsError) as raised:
        settings_from_env({**env, "INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ROUNDS_IN_FLIGHT": "0"})
    assert SECRET not in str(raised.value)


def test_ready_is_503_when_the_database_does_not_answer(client: TestClient) -> None:
    assert client.get("/ready").status_code == 200
    client.app.state.store.close()
    assert_error(client.get("/ready"), 503, "database_unavailable")
    assert client.get("/health").json() == {"status": "ok"}  # liveness: the process still answers
