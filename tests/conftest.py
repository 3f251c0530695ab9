from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

pytest_plugins = ["tests.engine_fixtures"]

REPO_ROOT = Path(__file__).resolve().parents[1]
SEED_FILE = REPO_ROOT.parent / "shared" / "data" / "self_instruct_seed_tasks.jsonl"


@pytest.fixture(scope="session")
def seed_file() -> Path:
    """The 175 seed tasks of the self-instruct paper (Apache-2.0), shipped beside the checkout."""
    assert SEED_FILE.is_file(), f"missing {SEED_FILE}: the tests need ../shared beside the repository"
    return SEED_FILE


@pytest.fixture(scope="session")
def seed_bytes(seed_file: Path) -> bytes:
    return seed_file.read_bytes()
