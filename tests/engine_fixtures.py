"""Session fixtures for tests that need the default model or a running vLLM server.

A pytest plugin: load it with `pytest_plugins = ["tests.engine_fixtures"]` (or `-p tests.engine_fixtures`).
The converted model lives in a persistent cache so repeated runs skip the ~25 s conversion; point
INSTRUCTFORGE_TEST_CACHE elsewhere to change that (CI can cache that folder between runs).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from generators.model import DEFAULT_SERVED_NAME, prepare_default_model
from generators.vllm_server import VLLMServer

REPO_ROOT = Path(__file__).resolve().parents[1]
ENGINE_READY_TIMEOUT_S = 300.0


def engine_cache_dir() -> Path:
    return Path(os.environ.get("INSTRUCTFORGE_TEST_CACHE", REPO_ROOT / ".cache" / "test"))


@pytest.fixture(scope="session")
def default_model_dir() -> Path:
    """The packaged SmolLM2-135M-Instruct as a Hugging Face folder, converted once per cache (not per session)."""
    return prepare_default_model(engine_cache_dir())


@pytest.fixture(scope="session")
def vllm_server(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[VLLMServer]:
    """One vLLM server for the whole session, on a free port of 127.0.0.1; its log is in a tmp folder."""
    log_path = tmp_path_factory.mktemp("vllm") / "server.log"
    server = VLLMServer(str(default_model_dir), served_model_name=DEFAULT_SERVED_NAME, log_path=log_path)
    server.start()
    try:
        server.wait_ready(timeout=ENGINE_READY_TIMEOUT_S)
        yield server
    finally:
        server.stop()
