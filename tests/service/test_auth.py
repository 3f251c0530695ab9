from __future__ import annotations

import msgspec
from litestar.testing import TestClient

from service.app import create_app
from tests.service.conftest import assert_error


def test_api_keys_guard_v1_but_not_health(settings) -> None:
    keyed = msgspec.structs.replace(settings, server=msgspec.structs.replace(settings.server, api_keys=("k1", "k2")))
    with TestClient(app=create_app(keyed)) as client:
        assert client.get("/health").status_code == 200
        assert_error(client.get("/v1/datasets"), 401, "unauthorized")
        assert_error(client.get("/v1/datasets", headers={"Authorization": "Bearer wrong"}), 401, "unauthorized")
        assert_error(client.post("/v1/datasets", json={"name": "x"}), 401, "unauthorized")
        assert client.get("/v1/datasets", headers={"Authorization": "Bearer k2"}).status_code == 200
        assert client.get("/v1/datasets", headers={"X-API-Key": "k1"}).status_code == 200
        assert client.get("/v1/datasets", headers={"Authorization": "Bearer k1"}).json()["items"] == []


def test_open_without_keys(client: TestClient) -> None:
    assert client.get("/v1/datasets").status_code == 200
