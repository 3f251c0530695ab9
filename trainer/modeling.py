"""Loading models for training and evaluation: the device, the dtype, plain folders and LoRA adapters.

bf16 where the hardware computes it natively (CUDA with bf16, or a CPU with AVX512-BF16/AMX: measured 2.1 s
against 2.9 s a step in fp32 for the same losses), fp32 elsewhere. torch/transformers/peft load lazily.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

DtypeName = Literal["bfloat16", "float32"]
ADAPTER_CONFIG = "adapter_config.json"
TRAIN_CONFIG = "train_config.json"


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def set_threads(threads: int) -> None:
    """Cap torch's CPU threads (0 leaves torch's default, one per core).

    On cores shared with other busy processes, fewer threads are much faster: measured on this project's
    2-core machine under load, decoding 64 tokens took 5-8 s on one thread against 23-125 s on two, a LoRA
    step 15-35 s against 177 s. The threads wait on each other at every small op, and lose when preempted.
    """
    if threads > 0:
        import torch

        torch.set_num_threads(threads)


def preferred_dtype() -> DtypeName:
    import torch

    if torch.cuda.is_available():
        return "bfloat16" if torch.cuda.is_bf16_supported() else "float32"
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")  # private, hence looked up defensively
    native = any(getattr(cpu, name, lambda: False)() for name in checks)
    return "bfloat16" if native else "float32"


def is_adapter(path: Path) -> bool:
    return (path / ADAPTER_CONFIG).is_file()


def adapter_base(path: Path) -> str:
    """The base model an adapter was trained on: train_config.json's record, else the adapter's own config."""
    train_config = path / TRAIN_CONFIG
    if train_config.is_file():
        base = json.loads(train_config.read_text()).get("base_model")
        if base:
            return str(base)
    return str(json.loads((path / ADAPTER_CONFIG).read_text())["base_model_name_or_path"])


def load_tokenizer(path: str) -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(path: str, dtype: DtypeName) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path, dtype=getattr(torch, dtype))


class ModelError(Exception):
    """A path given as a model is neither a model folder nor an adapter folder."""


def load_for_inference(path: Path, dtype: DtypeName) -> tuple[Any, Any]:
    """(model, tokenizer) from a plain or merged model folder, or from an adapter folder (merged into its base).

    A path that does not exist is passed on as a hub id.
    """
    if path.is_dir() and not (path / "config.json").is_file() and not is_adapter(path):
        raise ModelError(f"{path} holds neither a model (config.json) nor an adapter ({ADAPTER_CONFIG})")
    if is_adapter(path):
        from peft import PeftModel

        base = adapter_base(path)
        model = PeftModel.from_pretrained(load_causal_lm(base, dtype), str(path)).merge_and_unload()
        tokenizer_path = str(path) if _has_tokenizer(path) else base
    else:
        model, tokenizer_path = load_causal_lm(str(path), dtype), str(path)
    model.to(device_name())
    model.eval()
    return model, load_tokenizer(tokenizer_path)


def _has_tokenizer(path: Path) -> bool:
    return (path / "tokenizer_config.json").is_file()
