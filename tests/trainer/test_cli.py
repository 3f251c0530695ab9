"""The commands end to end: a real LoRA fine-tune of the default model, then its evaluation against the base.

Training and evaluation run as `python -m trainer` subprocesses, as a user runs them (and so that library
warnings, which this suite turns into errors, stay out of the test process). One torch thread: the suite
shares two cores with other processes, and there one thread is several times faster than two (see
`trainer.modeling.set_threads`).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.trainer.snapshots import training_snapshot
from trainer.cli import cli

REPO_ROOT = Path(__file__).resolve().parents[2]
# Two epochs of 40 records in batches of 8, the loss logged once an epoch: an epoch's mean, so the first and
# the last logged loss are over the same records (single batches differ too much: code answers cost more).
EPOCH_STEPS = 5
EPOCHS = 2


def run_trainer(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    result = subprocess.run(
        [sys.executable, "-m", "trainer", *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, f"trainer {args[0]} failed:\n{result.stderr[-4000:]}"
    return result


@pytest.fixture(scope="module")
def finetuned(default_model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(snapshot, output folder) of one short fine-tune, shared by the tests below."""
    root = tmp_path_factory.mktemp("finetune")
    snapshot = training_snapshot(root / "snapshot")
    out = root / "out"
    run_trainer(
        "finetune", "--snapshot", str(snapshot), "--base-model", str(default_model_dir), "--out", str(out),
        "--epochs", str(EPOCHS), "--logging-steps", str(EPOCH_STEPS), "--max-length", "256", "--batch-size", "8",
        "--merge", "--threads", "1",
    )  # fmt: skip
    return snapshot, out


def test_finetune_lowers_the_loss_and_records_its_inputs(finetuned: tuple[Path, Path], default_model_dir: Path) -> None:
    snapshot, out = finetuned
    log = json.loads((out / "training_log.json").read_text())
    assert [entry["step"] for entry in log["steps"]] == [EPOCH_STEPS * (n + 1) for n in range(EPOCHS)]
    assert log["last_loss"] < log["first_loss"], log
    assert log["runtime_s"] > 0
    config = json.loads((out / "train_config.json").read_text())
    manifest = json.loads((snapshot / "manifest.json").read_text())
    assert config["snapshot"]["content_sha256"] == manifest["content_sha256"]
    assert config["snapshot"]["snapshot_id"] == "sn_test0001"
    assert config["base_model"] == str(default_model_dir.resolve())
    assert (config["method"], config["loss_mask"], config["settings"]["lora_targets"]) == (
        "lora",
        "completion",
        "all-linear",
    )
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert (out / "merged" / "config.json").is_file() and (out / "merged" / "model.safetensors").is_file()


def test_evaluate_compares_the_tuned_model_with_its_base(
    finetuned: tuple[Path, Path], default_model_dir: Path, tmp_path: Path
) -> None:
    snapshot, out = finetuned
    report = tmp_path / "report"
    run_trainer(
        "evaluate", "--snapshot", str(snapshot), "--model", str(out), "--compare", str(default_model_dir),
        "--out", str(report), "--samples", "2", "--k", "1,2", "--max-new-tokens", "64", "--threads", "1",
    )  # fmt: skip
    comparison = json.loads((report / "comparison.json").read_text())
    base, tuned = comparison["base"]["metrics"], comparison["tuned"]["metrics"]
    for metrics in (base, tuned):
        for name in ("validation_loss", "perplexity", "pass@1", "pass@2", "exact_match", "rouge_l"):
            assert math.isfinite(metrics[name]), (name, metrics)
        assert 0 <= metrics["pass@1"] <= metrics["pass@2"] <= 1
        assert metrics["perplexity"] == pytest.approx(math.exp(metrics["validation_loss"]))
        assert (metrics["code_tasks"], metrics["text_tasks"]) == (3, 5)
    assert tuned["validation_loss"] < base["validation_loss"], comparison["rows"]
    assert [task["samples"] for task in comparison["tuned"]["code_tasks"]] == [2, 2, 2]
    assert (
        comparison["snapshot"]["content_sha256"]
        == json.loads((snapshot / "manifest.json").read_text())["content_sha256"]
    )
    table = (report / "comparison.md").read_text()
    assert "| validation_loss |" in table and "| pass@1 |" in table
    assert (report / "comparison.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_that_is_no_snapshot_is_a_clean_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["evaluate", "--snapshot", str(tmp_path), "--model", str(tmp_path)])
    assert result.exit_code == 2
    assert "manifest.json is missing" in result.output


def test_pass_at_k_needs_enough_samples(tmp_path: Path) -> None:
    args = ["evaluate", "--snapshot", str(tmp_path), "--model", str(tmp_path), "--samples", "2", "--k", "1,5"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2
    assert "pass@5 needs --samples >= 5" in result.output


def test_importing_the_cli_loads_no_ml_library() -> None:
    heavy = "{'torch', 'transformers', 'trl', 'peft', 'datasets', 'matplotlib'}"
    code = f"import sys, trainer.cli; print(sorted({heavy} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
