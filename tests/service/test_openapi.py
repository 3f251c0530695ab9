"""The OpenAPI document and its viewers.

The viewers (Swagger UI, ReDoc) load nothing from another host: their pages name only files this
service serves, and a real Chromium with every other host unreachable renders each of them. The document
names every operation once in camelCase, documents the one error body under every error status, the API
key schemes on /v1, the upload bodies, the NDJSON export, and the shapes of the stored documents it passes
through (provenance, manifest, counts) while the JSON on the wire stays the stored JSON.
"""

from __future__ import annotations

import json
import re
import signal
import time
from collections.abc import Callable, Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jsonschema
import msgspec
import pytest
from litestar.testing import TestClient
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from service.app import create_app
from service.settings import Settings
from tests.service.conftest import assert_error
from tests.service.servers import Server, free_port

VIEWERS = ("/schema", "/schema/swagger", "/schema/redoc")
ASSET_TYPES = {"script": ("text/javascript",), "stylesheet": ("text/css",), "icon": ("image/png",)}
CAMEL_CASE = re.compile(r"[a-z]+(?:[A-Z][a-z0-9]*)+")
METHODS = ("get", "post", "put", "patch", "delete")
ERROR_REF = "#/components/schemas/ErrorBody"
SECURITY = [{"BearerAuth": []}, {"ApiKeyHeader": []}]
SEEDS = b'{"instruction": "Name a primary color.", "output": "Red"}\n{"instruction": "List two birds.", "output": "a"}'
CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


class _Assets(HTMLParser):
    """Every `<script src>` and `<link href>` of a page, with what the page uses it as."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "script" and named.get("src"):
            self.found.append(("script", named["src"] or ""))
        if tag == "link" and named.get("href"):
            self.found.append((named.get("rel") or "", named["href"] or ""))


def page_assets(html: str) -> list[tuple[str, str]]:
    parser = _Assets()
    parser.feed(html)
    return parser.found


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/schema/openapi.json")
    assert response.status_code == 200
    return response.json()


def operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def response_schema(document: dict[str, Any], path: str, method: str = "get") -> dict[str, Any]:
    schema = document["paths"][path][method]["responses"]["200"]["content"]["application/json"]["schema"]
    return resolve(document, schema)


# ---- the viewers ----


def test_every_viewer_page_loads_only_files_of_this_service(client: TestClient) -> None:
    for page in VIEWERS:
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html"), page
        assert re.findall(r"https?://", response.text) == [], page  # no URL of another host, no web fonts
        assets = page_assets(response.text)
        assert ("icon", "/schema/assets/favicon-32x32.png") in assets, page
        assert [kind for kind, _ in assets].count("script") >= 1, page
        for kind, url in assets:
            assert url.startswith("/schema/assets/"), (page, url)  # a path of this service, not `//host/...`
            served = client.get(url)
            assert served.status_code == 200, url
            assert served.headers["content-type"].split(";")[0] in ASSET_TYPES[kind], url
            assert len(served.content) > 100 and served.headers["x-content-type-options"] == "nosniff", url


def test_the_swagger_page_takes_its_three_files_and_redoc_no_fonts(client: TestClient) -> None:
    swagger = {url for _, url in page_assets(client.get("/schema/swagger").text)}
    assert {"/schema/assets/swagger-ui-bundle.js", "/schema/assets/swagger-ui-standalone-preset.js",
            "/schema/assets/swagger-ui.css"} <= swagger  # fmt: skip
    redoc = client.get("/schema/redoc").text
    assert "/schema/assets/redoc.standalone.js" in redoc and "fonts" not in redoc.lower()


def test_only_the_listed_viewer_files_are_served(client: TestClient) -> None:
    for name in ("index.html", "..%2Fredoc%2Fvendor%2Findex.html", "rapidoc-min.js", "nothing.js"):
        assert_error(client.get(f"/schema/assets/{name}"), 404, "not_found")
    for gone in ("/schema/rapidoc", "/schema/elements", "/schema/scalar"):  # not offline: not offered
        assert client.get(gone).status_code == 404


def test_the_document_is_served_as_json_and_yaml(client: TestClient, document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.1") and document["info"]["title"] == "InstructForge"
    yaml = client.get("/schema/openapi.yaml")
    assert yaml.status_code == 200 and "operationId: createJob" in yaml.text


def _chromium_offline() -> webdriver.Chrome:
    """Headless Chromium that can reach 127.0.0.1 only: every other host goes through a proxy that is not there."""
    for program in (CHROMIUM, CHROMEDRIVER):  # `make install` installs both (the dashboard's tests use them)
        assert Path(program).is_file(), f"{program} is missing: apt-get install chromium chromium-driver"
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-extensions",
        "--proxy-server=http://127.0.0.1:9",
        "--window-size=1200,900",
    ):
        options.add_argument(argument)  # loopback bypasses the proxy: 127.0.0.1 only is reachable
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)


def _wait(check: Callable[[], object], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


IMAGES_SETTLED = "return [...document.images].every(image => image.complete)"
IMAGES_LOADED = "return [...document.images].every(image => image.naturalWidth > 0)"
# What each viewer shows once it has rendered the document.
RENDERED = {
    "/schema/swagger": "return document.querySelector('.swagger-ui .info .title')?.textContent ?? ''",
    "/schema/redoc": "return document.querySelector('h1')?.textContent ?? ''",
}


@pytest.mark.server
def test_every_viewer_renders_in_a_browser_that_cannot_reach_other_hosts(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port())
    driver = None
    try:
        server.wait_ready()
        driver = _chromium_offline()
        for page, rendered in RENDERED.items():
            driver.get(f"{server.url}{page}")
            _wait(lambda: "InstructForge" in driver.execute_script(rendered), f"{page} to render")  # noqa: B023
            _wait(lambda: driver.execute_script(IMAGES_SETTLED), f"{page}'s images")  # loaded or failed: both count
            assert driver.execute_script(IMAGES_LOADED), page  # ReDoc's logo among them, from this service
            names = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
            assert names and all(name.startswith(f"{server.url}/") for name in names), (page, names)
            severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert severe == [], (page, severe)
    finally:
        if driver is not None:
            driver.quit()
        server.stop(signal.SIGKILL)


# ---- the document ----


def test_every_operation_has_a_unique_camel_case_operation_id(document: dict[str, Any]) -> None:
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) >= 25 and len(set(ids)) == len(ids)
    assert [i for i in ids if not CAMEL_CASE.fullmatch(i)] == []
    named = {(method, path): op["operationId"] for path, method, op in operations(document)}
    assert named[("post", "/v1/jobs")] == "createJob"
    assert named[("get", "/v1/datasets")] == "listDatasets"
    assert named[("get", "/v1/datasets/{dataset_id}")] == "getDataset"
    assert named[("delete", "/v1/datasets/{dataset_id}")] == "deleteDataset"
    assert named[("post", "/v1/datasets/{dataset_id}/seeds")] == "uploadSeeds"
    assert named[("get", "/v1/datasets/{dataset_id}/stats")] == "getDatasetStats"
    assert named[("get", "/v1/datasets/{dataset_id}/export")] == "exportDataset"
    assert named[("post", "/v1/jobs/{job_id}/cancel")] == "cancelJob"
    assert named[("post", "/v1/datasets/{dataset_id}/snapshots")] == "createDatasetSnapshot"
    assert named[("get", "/v1/snapshots/{snapshot_id}/files/{name}")] == "downloadSnapshotFile"
    assert named[("post", "/v1/benchmarks")] == "registerBenchmark"
    assert named[("get", "/v1/engine")] == "getEngineStatus"
    assert named[("get", "/health")] == "getHealth"


def test_every_v1_operation_names_the_key_schemes_and_its_401(document: dict[str, Any]) -> None:
    schemes = document["components"]["securitySchemes"]
    assert schemes["BearerAuth"] | {"description": ""} == {"type": "http", "scheme": "bearer", "description": ""}
    assert (schemes["ApiKeyHeader"]["type"], schemes["ApiKeyHeader"]["in"]) == ("apiKey", "header")
    assert schemes["ApiKeyHeader"]["name"] == "X-API-Key"
    v1 = [(path, method, op) for path, method, op in operations(document) if path.startswith("/v1/")]
    assert len(v1) >= 20
    for path, method, op in v1:
        assert op.get("security") == SECURITY, (method, path)
        assert "401" in op["responses"], (method, path)
    for path in ("/health", "/ready"):  # open probes
        assert (
            "security" not in document["paths"][path]["get"]
            and "401" not in document["paths"][path]["get"]["responses"]
        )


def test_every_error_status_documents_the_one_error_body(document: dict[str, Any]) -> None:
    body = document["components"]["schemas"]["ErrorBody"]
    assert set(body["required"]) == set(body["properties"]) == {"status_code", "code", "detail", "extra"}
    for path, method, op in operations(document):
        statuses = {int(status) for status in op["responses"]}
        for status in (s for s in statuses if s >= 400):
            content = op["responses"][str(status)]["content"]
            assert content == {"application/json": {"schema": {"$ref": ERROR_REF}}}, (method, path, status)
        assert not statuses & {405, 422, 500}, (method, path)  # never answered for a documented method
        where = (method, path)
        params = [p["in"] for p in op.get("parameters", [])]
        if "path" in params:
            assert {400, 404} <= statuses, where  # an id out of bounds, or naming nothing
        if params:
            assert 400 in statuses, where
        if "requestBody" in op:
            assert {400, 413} <= statuses, where


def test_each_route_documents_the_statuses_it_raises(document: dict[str, Any]) -> None:
    def statuses(method: str, path: str) -> set[int]:
        return {int(s) for s in document["paths"][path][method]["responses"] if int(s) >= 400}

    assert statuses("post", "/v1/datasets") == {400, 401, 409, 413}  # a name taken
    assert statuses("post", "/v1/datasets/{dataset_id}/seeds") == {400, 401, 404, 413, 415}  # a media type
    assert statuses("post", "/v1/jobs/{job_id}/cancel") == {400, 401, 404, 409}  # a finished job
    assert statuses("post", "/v1/datasets/{dataset_id}/snapshots") == {400, 401, 404, 409, 413}  # empty selection
    assert statuses("get", "/v1/engine") == {401}
    assert statuses("get", "/ready") == {503} and statuses("get", "/health") == set()


def test_the_documented_error_body_is_the_one_the_service_sends(settings: Settings, document: dict) -> None:
    keyed = msgspec.structs.replace(settings, server=msgspec.structs.replace(settings.server, api_keys=("k",)))
    with TestClient(app=create_app(keyed)) as client:
        refused = assert_error(client.get("/v1/datasets"), 401, "unauthorized")
        missing = assert_error(client.get("/v1/jobs/job_00000000000000000000", headers={"X-API-Key": "k"}), 404,
                               "job_not_found")  # fmt: skip
    schema = document["components"]["schemas"]["ErrorBody"]
    for body in (refused, missing):
        jsonschema.validate(body, schema)


def test_the_uploads_document_their_bodies(document: dict[str, Any]) -> None:
    seeds = document["paths"]["/v1/datasets/{dataset_id}/seeds"]["post"]["requestBody"]["content"]
    assert set(seeds) == {"application/x-ndjson", "application/json"}
    assert seeds["application/json"]["schema"]["items"]["anyOf"]  # a self-instruct or an Alpaca record, extras kept
    benchmark = document["paths"]["/v1/benchmarks"]["post"]["requestBody"]["content"]
    assert set(benchmark) == {"application/x-ndjson"}


def test_the_export_is_documented_and_sent_as_ndjson(client: TestClient, document: dict, dataset_id: str) -> None:
    answer = document["paths"]["/v1/datasets/{dataset_id}/export"]["get"]["responses"]["200"]
    assert set(answer["content"]) == {"application/x-ndjson"} and "Content-Disposition" in answer["headers"]
    client.post(f"/v1/datasets/{dataset_id}/seeds", content=SEEDS, headers={"content-type": "application/x-ndjson"})
    exported = client.get(f"/v1/datasets/{dataset_id}/export")
    assert exported.status_code == 200 and exported.headers["content-type"].startswith("application/x-ndjson")
    assert [json.loads(line)["instruction"] for line in exported.text.splitlines()] == [
        "Name a primary color.", "List two birds."
    ]  # fmt: skip


def test_progress_manifest_counts_and_provenance_are_objects_with_properties(document: dict[str, Any]) -> None:
    shapes = {
        "progress": resolve(document, response_schema(document, "/v1/jobs/{job_id}")["properties"]["progress"]),
        "provenance": response_schema(document, "/v1/datasets/{dataset_id}/records")["properties"]["items"],
        "manifest": response_schema(document, "/v1/snapshots/{snapshot_id}")["properties"]["manifest"],
        "counts": response_schema(document, "/v1/snapshots/{snapshot_id}")["properties"]["counts"],
    }
    shapes["provenance"] = resolve(document, shapes["provenance"]["items"])["properties"]["provenance"]
    for name, schema in shapes.items():
        assert schema["type"] == "object" and schema["properties"], name
    assert {"rounds", "tokens", "tokens_per_s", "eta_s"} <= set(shapes["progress"]["properties"])
    assert {"job_id", "model", "templates", "upload", "line"} <= set(shapes["provenance"]["properties"])
    assert {"snapshot_id", "files", "content_sha256", "counts", "spec"} <= set(shapes["manifest"]["properties"])
    assert set(shapes["counts"]["properties"]) == {"train", "validation"}


def test_a_real_manifest_and_provenance_match_their_schemas_and_stay_as_stored(
    client: TestClient, document: dict[str, Any], dataset_id: str, settings: Settings
) -> None:
    uploaded = client.post(
        f"/v1/datasets/{dataset_id}/seeds", content=SEEDS, headers={"content-type": "application/x-ndjson"}
    )
    assert uploaded.status_code == 200, uploaded.text
    created = client.post(f"/v1/datasets/{dataset_id}/snapshots", json={"validation_fraction": 0.5})
    assert created.status_code == 201, created.text
    snapshot = client.get(f"/v1/snapshots/{created.json()['id']}").json()
    schema = response_schema(document, "/v1/snapshots/{snapshot_id}")["properties"]
    jsonschema.validate(snapshot["manifest"], schema["manifest"])
    jsonschema.validate(snapshot["counts"], schema["counts"])
    assert set(snapshot["manifest"]) <= set(schema["manifest"]["properties"])  # every key documented
    stored = Path(settings.store.data_dir) / "snapshots" / snapshot["id"] / "manifest.json"
    assert snapshot["manifest"] == json.loads(stored.read_text())  # the wire is the stored document
    record = client.get(f"/v1/datasets/{dataset_id}/records").json()["items"][0]
    records = response_schema(document, "/v1/datasets/{dataset_id}/records")["properties"]["items"]["items"]
    provenance = resolve(document, records)["properties"]["provenance"]
    jsonschema.validate(record["provenance"], provenance)
    assert set(record["provenance"]) == {"upload", "line", "format"}
