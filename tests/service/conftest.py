from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from litestar.testing import TestClient

from service.app import create_app
from service.settings import EngineSettings, LimitsSettings, Settings, StoreSettings
from tests.service.servers import Server, free_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        store=StoreSettings(data_dir=str(tmp_path / "data")),
        limits=LimitsSettings(max_body_bytes=2 * 1024 * 1024, default_page_size=50, max_page_size=200),
        engine=EngineSettings(kind="none", default_dataset=False),
    )


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient]:
    with TestClient(app=create_app(settings)) as test_client:
        yield test_client


@pytest.fixture
def dataset_id(client: TestClient) -> str:
    response = client.post("/v1/datasets", json={"name": "seeds"})
    assert response.status_code == 201, response.text
    return response.json()["id"]


@pytest.fixture
def start(tmp_path: Path) -> Iterator:
    """Start real `instructforge serve` processes (engine off unless asked); all are killed afterwards."""
    started: list[Server] = []

    def _start(**extra_env: str) -> Server:
        server = Server(tmp_path / "data", free_port(), extra_env)
        started.append(server)
        server.wait_ready()
        return server

    yield _start
    for server in started:
        server.stop(signal.SIGKILL)


def with_limits(settings: Settings, **limits) -> Settings:
    return msgspec.structs.replace(settings, limits=msgspec.structs.replace(settings.limits, **limits))


def assert_error(response, status: int, code: str) -> dict:
    """Every error has one shape: status_code, code, detail, extra."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"status_code", "code", "detail", "extra"}
    assert (body["status_code"], body["code"]) == (status, code)
    assert isinstance(body["detail"], str) and body["detail"]
    return body
