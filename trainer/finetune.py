"""Supervised fine-tuning on a snapshot's train split: TRL's SFTTrainer with a PEFT LoRA adapter (or, with
`full`, every weight), loss on the answers only.

Writes into the output folder: the adapter (or the full model), `merged/` when asked, `training_log.json`
(loss per logged step, first and last, runtime) and `train_config.json` (every setting, the snapshot's
identity and content hash, the base model), so a run can be repeated from the snapshot alone.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from trainer.formats import LossMask, training_rows
from trainer.modeling import DtypeName, device_name, load_causal_lm, load_tokenizer, preferred_dtype, set_threads
from trainer.snapshot import Snapshot, load_snapshot

TRAINING_LOG = "training_log.json"
TRAIN_CONFIG = "train_config.json"
MERGED_DIR = "merged"
# Measured on SmolLM2-135M (docs: training-on-cpu): all-linear reached a lower eval loss than q/v-only
# (1.75 against 2.12) for the same step time; 2e-4 is where LoRA's gains flattened out.
LORA_LEARNING_RATE = 2e-4
FULL_LEARNING_RATE = 2e-5


class FinetuneSettings(msgspec.Struct, frozen=True, kw_only=True):
    epochs: float = 3.0
    max_steps: int = -1  # > 0 overrides epochs
    learning_rate: float | None = None  # None: LORA_LEARNING_RATE, or FULL_LEARNING_RATE with `full`
    lora_rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.0
    lora_targets: str = "all-linear"
    max_length: int = 1024
    batch_size: int = 8
    seed: int = 0
    logging_steps: int = 1
    threads: int = 0  # torch CPU threads; 0: one per core
    full: bool = False
    merge: bool = False

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return FULL_LEARNING_RATE if self.full else LORA_LEARNING_RATE


class FinetuneResult(msgspec.Struct, frozen=True, kw_only=True):
    out: str
    first_loss: float
    last_loss: float
    steps: int
    runtime_s: float


def run_finetune(snapshot_path: Path, base_model: str, out: Path, settings: FinetuneSettings) -> FinetuneResult:
    """Train on the snapshot's train split; save the adapter or model, the log and the config into `out`."""
    snapshot = load_snapshot(snapshot_path)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(settings.threads)
    dtype = preferred_dtype()
    tokenizer = load_tokenizer(base_model)
    rows, loss_mask = training_rows(
        snapshot.records("train"), snapshot.format, template_marks_assistant=template_marks_assistant(tokenizer)
    )
    trainer = _build_trainer(rows, loss_mask, base_model, tokenizer, out, settings, dtype)
    started = time.monotonic()
    trainer.train()
    runtime = time.monotonic() - started
    trainer.save_model(str(out))
    log = training_log(trainer.state.log_history, runtime)
    _write_json(out / TRAINING_LOG, log)
    config = train_config(snapshot, base_model, settings, dtype=dtype, loss_mask=loss_mask, records=len(rows))
    _write_json(out / TRAIN_CONFIG, config)
    if settings.merge and not settings.full:
        merged = trainer.model.merge_and_unload()
        merged.save_pretrained(str(out / MERGED_DIR))
        tokenizer.save_pretrained(str(out / MERGED_DIR))
    return FinetuneResult(
        out=str(out),
        first_loss=log["first_loss"],
        last_loss=log["last_loss"],
        steps=log["global_step"],
        runtime_s=runtime,
    )


def template_marks_assistant(tokenizer: Any) -> bool:
    """Whether TRL can mask assistant turns with this chat template (its own markers or a patch TRL ships)."""
    from trl.chat_template_utils import get_training_chat_template

    try:
        get_training_chat_template(tokenizer)
    except ValueError:  # "not training-compatible ... patching is not supported for this template"
        return False
    return True


def _build_trainer(
    rows: list[dict[str, Any]],
    loss_mask: LossMask,
    base_model: str,
    tokenizer: Any,
    out: Path,
    settings: FinetuneSettings,
    dtype: DtypeName,
) -> Any:
    from datasets import Dataset
    from trl import SFTTrainer

    # LoRA: the frozen base in the compute dtype (PEFT keeps the adapter in fp32). Full: fp32 master weights,
    # bf16 by autocast, since AdamW steps on bf16 weights lose most small updates.
    load_dtype: DtypeName = "float32" if settings.full else dtype
    return SFTTrainer(
        model=load_causal_lm(base_model, load_dtype),
        args=_sft_config(out, settings, loss_mask, dtype),
        train_dataset=Dataset.from_list(rows),
        processing_class=tokenizer,
        peft_config=None if settings.full else _lora_config(settings),
    )


def _sft_config(out: Path, settings: FinetuneSettings, loss_mask: LossMask, dtype: DtypeName) -> Any:
    from trl import SFTConfig

    on_cuda = device_name() == "cuda"
    return SFTConfig(
        output_dir=str(out),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        learning_rate=settings.resolved_learning_rate(),
        per_device_train_batch_size=settings.batch_size,
        max_length=settings.max_length,
        seed=settings.seed,
        logging_steps=settings.logging_steps,
        assistant_only_loss=loss_mask == "assistant",
        completion_only_loss=True if loss_mask == "completion" else None,
        bf16=settings.full and dtype == "bfloat16",
        gradient_checkpointing=False,  # small models on a CPU: recomputation costs more time than memory saved
        dataloader_pin_memory=on_cuda,
        use_cpu=not on_cuda,  # bf16 autocast on a CPU (with --full) is refused without it
        save_strategy="no",
        report_to="none",
    )


def _lora_config(settings: FinetuneSettings) -> Any:
    from peft import LoraConfig

    targets: str | list[str] = settings.lora_targets
    if targets != "all-linear":
        targets = [name.strip() for name in targets.split(",") if name.strip()]
    return LoraConfig(
        r=settings.lora_rank,
        lora_alpha=settings.lora_alpha,
        lora_dropout=settings.lora_dropout,
        target_modules=targets,
        task_type="CAUSAL_LM",
    )


def training_log(log_history: list[dict[str, Any]], runtime_s: float) -> dict[str, Any]:
    """The Trainer's log history reduced to the loss curve and its summary."""
    steps = [
        {
            key: entry[key]
            for key in ("step", "epoch", "loss", "learning_rate", "grad_norm", "mean_token_accuracy")
            if key in entry
        }
        for entry in log_history
        if "loss" in entry
    ]
    final = next((entry for entry in reversed(log_history) if "train_runtime" in entry), {})
    global_step = max((entry.get("step", 0) for entry in log_history), default=0)
    return {
        "steps": steps,
        "first_loss": steps[0]["loss"] if steps else None,
        "last_loss": steps[-1]["loss"] if steps else None,
        "mean_train_loss": final.get("train_loss"),
        "global_step": global_step,
        "runtime_s": round(runtime_s, 3),
        "seconds_per_step": round(runtime_s / global_step, 3) if global_step else None,
    }


def train_config(
    snapshot: Snapshot, base_model: str, settings: FinetuneSettings, *, dtype: str, loss_mask: str, records: int
) -> dict[str, Any]:
    base_path = Path(base_model)
    manifest = snapshot.manifest
    return {
        "base_model": str(base_path.resolve()) if base_path.exists() else base_model,
        "method": "full" if settings.full else "lora",
        "settings": msgspec.to_builtins(settings),
        "learning_rate": settings.resolved_learning_rate(),
        "dtype": dtype,  # compute dtype; with --full the weights stay fp32 and bf16 comes by autocast
        "device": device_name(),
        "loss_mask": loss_mask,
        "train_records": records,
        "snapshot": {
            "path": str(snapshot.path.resolve()),
            "snapshot_id": manifest.snapshot_id,
            "dataset_id": manifest.dataset_id,
            "format": manifest.format,
            "content_sha256": manifest.content_sha256,
        },
        "versions": _library_versions(),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def _library_versions() -> dict[str, str]:
    from importlib.metadata import version

    return {name: version(name) for name in ("torch", "transformers", "trl", "peft", "datasets")}


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2) + "\n")
