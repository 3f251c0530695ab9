"""Schemathesis over every operation of the OpenAPI document, against a real `instructforge serve`.

Valid and invalid inputs generated from the schema (upload bodies included) must never get a 5xx, and
every answer must match the document: a documented status, its media type, its schema. Deterministic
(hypothesis derandomized, no example database) and bounded: a fixed number of examples per operation and
mode, well under two minutes on the development machine.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import httpx
import hypothesis
import hypothesis.errors
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from tests.service.servers import Server, free_port

pytestmark = pytest.mark.server

EXAMPLES_PER_MODE = 12
TIME_BOUND_S = 100
NDJSON = {"content-type": "application/x-ndjson"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
SEED = b'{"instruction": "Name a primary color.", "output": "Red"}\n{"instruction": "List two birds.", "output": "a"}'

# JSON Lines bodies are strings in the document: sent as they are, like text/plain.
schemathesis.serializer.alias("application/x-ndjson", "text/plain")


def test_every_operation_fuzzed_no_5xx_no_schema_violation(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port())
    try:
        server.wait_ready()
        ids = existing_ids(server.url)
        schema = schemathesis.openapi.from_url(f"{server.url}/schema/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deletions last: the ids live till then
        assert len(operations) >= 20  # every route of the API, uploads included
        started, cases = time.monotonic(), 0
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                cases += fuzz(operation, mode, server.url, ids)
        elapsed = time.monotonic() - started
        print(f"schemathesis: {cases} cases over {len(operations)} operations in {elapsed:.0f} s")
        assert cases >= len(operations) * EXAMPLES_PER_MODE and elapsed < TIME_BOUND_S
        assert "Traceback" not in server.log.read_text()  # nothing went unhandled, even where the answer was 4xx
    finally:
        server.stop(signal.SIGKILL)


def existing_ids(base_url: str) -> dict[str, str]:
    """A dataset with seeds, a snapshot and a benchmark, so valid cases reach past the 404 of a random id."""
    dataset = httpx.post(f"{base_url}/v1/datasets", json={"name": "fuzzed"}).json()["id"]
    uploaded = httpx.post(f"{base_url}/v1/datasets/{dataset}/seeds", content=SEED, headers=NDJSON)
    snapshot = httpx.post(f"{base_url}/v1/datasets/{dataset}/snapshots", json={})
    benchmark = httpx.post(f"{base_url}/v1/benchmarks", params={"name": "bench"}, content=b'{"p": "a text"}')
    assert (uploaded.status_code, snapshot.status_code, benchmark.status_code) == (200, 201, 201)
    return {"dataset_id": dataset, "snapshot_id": snapshot.json()["id"], "name": "bench"}


def fuzz(operation, mode: GenerationMode, base_url: str, ids: dict[str, str]) -> int:
    count = 0

    @hypothesis.settings(
        max_examples=EXAMPLES_PER_MODE, deadline=None, derandomize=True, database=None,
        phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck), print_blob=False,
    )  # fmt: skip
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case) -> None:
        nonlocal count
        count += 1
        if mode is GenerationMode.POSITIVE and case.path_parameters:
            for name, value in ids.items():
                if name in case.path_parameters and not (name == "name" and "files" in operation.path):
                    case.path_parameters[name] = value
        response = case.call(base_url=base_url, timeout=30)
        # A JSON Lines body is text to the schema: any "invalid" value, serialised, is a valid line again.
        negated_text = case.media_type == "application/x-ndjson"
        negative = mode is GenerationMode.NEGATIVE and not negated_text
        case.validate_response(response, checks=[*CHECKS, negative_data_rejection] if negative else CHECKS)

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        assert mode is GenerationMode.NEGATIVE, operation.label  # no input to make invalid (GET /health)
    return count
