"""The real `instructforge serve` process on 127.0.0.1: start, serve, survive SIGKILL, stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.service.servers import INSTRUCTFORGE

pytestmark = pytest.mark.server


def test_seed_upload_stats_and_exports_through_a_real_server(start, seed_bytes: bytes, tmp_path: Path) -> None:
    server = start()
    with httpx.Client(base_url=server.url, timeout=30) as http:
        dataset = http.post("/v1/datasets", json={"name": "real"}).json()
        uploaded = http.post(
            f"/v1/datasets/{dataset['id']}/seeds", content=seed_bytes, headers={"content-type": "application/x-ndjson"}
        ).json()
        assert uploaded["added"] == 175
        stats = http.get(f"/v1/datasets/{dataset['id']}/stats").json()
        assert (stats["tasks"], stats["instances"], stats["classification"]["count"]) == (175, 175, 26)
        for fmt in ("alpaca", "sharegpt", "messages", "prompt_completion"):
            with http.stream("GET", f"/v1/datasets/{dataset['id']}/export", params={"format": fmt}) as response:
                assert response.status_code == 200
                lines = [json.loads(line) for line in response.iter_lines() if line]
            assert len(lines) == 175
    # uvicorn shuts down gracefully (lifespan closes the store), then re-raises the signal it caught
    assert server.stop(signal.SIGTERM) in (0, -signal.SIGTERM)
    assert "Application shutdown complete." in server.log.read_text()
    assert (tmp_path / "data" / "instructforge.duckdb").is_file()


def test_accepted_uploads_survive_sigkill(start, seed_bytes: bytes) -> None:
    server = start()
    dataset = httpx.post(f"{server.url}/v1/datasets", json={"name": "durable"}).json()
    answer = httpx.post(
        f"{server.url}/v1/datasets/{dataset['id']}/seeds",
        content=seed_bytes,
        headers={"content-type": "application/x-ndjson"},
        timeout=30,
    )
    assert answer.json()["added"] == 175
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    again = start()
    stats = httpx.get(f"{again.url}/v1/datasets/{dataset['id']}/stats").json()
    assert (stats["tasks"], stats["instances"]) == (175, 175)


def test_api_keys_through_a_real_server(start) -> None:
    server = start(INSTRUCTFORGE_API_KEYS="secret-1")
    assert httpx.get(f"{server.url}/v1/datasets").status_code == 401
    assert httpx.get(f"{server.url}/v1/datasets", headers={"Authorization": "Bearer secret-1"}).status_code == 200


def test_bad_settings_stop_the_command_with_a_clear_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INSTRUCTFORGE_")} | {"INSTRUCTFORGE_PORT": "eighty"}
    done = subprocess.run([str(INSTRUCTFORGE), "serve"], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 2
    assert "INSTRUCTFORGE_PORT='eighty': Expected `int`, got `str`" in done.stderr
