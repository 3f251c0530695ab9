"""`python -m trainer`: fine-tune on a snapshot, evaluate a model on it (alone or against a base)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated, NoReturn

import msgspec
import typer

from trainer.base_model import COMPARE_BASE, COMPARE_NONE, PACKAGED, PACKAGED_HELP, comparison_model, resolve_base_model
from trainer.evaluate import EvalSettings, EvaluationError, check_settings
from trainer.finetune import FinetuneSettings
from trainer.formats import FormatError
from trainer.modeling import ModelError
from trainer.snapshot import SnapshotError, load_snapshot

cli = typer.Typer(help="Fine-tune and evaluate models on exported InstructForge snapshots.", no_args_is_help=True)
_TUNE = FinetuneSettings()
_EVAL = EvalSettings()
_THREADS_HELP = "torch CPU threads (0: one per core); 1 is much faster on cores other processes keep busy."
_USER_ERRORS = (SnapshotError, FormatError, EvaluationError, ModelError)
_MODEL_HELP = f"A fine-tune's output folder (adapter), its merged/ folder, any model folder, or '{PACKAGED}'."
_COMPARE_HELP = (
    f"Model to compare against, writing comparison.{{json,md,png}}: '{COMPARE_BASE}' is the one --model was "
    f"fine-tuned from (train_config.json), else the packaged model; '{COMPARE_NONE}' evaluates --model alone; "
    f"'{PACKAGED}' or a folder (or hub id)."
)


@cli.command()
def finetune(
    snapshot: Annotated[Path, typer.Option(help="Snapshot folder (with manifest.json).")],
    out: Annotated[Path, typer.Option(help="Output folder: adapter or model, training_log.json, train_config.json.")],
    base_model: Annotated[
        str, typer.Option(help=f"Model to fine-tune: {PACKAGED_HELP}; or a Hugging Face folder (or hub id).")
    ] = PACKAGED,
    epochs: Annotated[float, typer.Option(help="Passes over the train split.")] = _TUNE.epochs,
    max_steps: Annotated[
        int, typer.Option(help="Stop after this many steps (> 0 overrides epochs).")
    ] = _TUNE.max_steps,
    learning_rate: Annotated[float | None, typer.Option(help="Default 2e-4 for LoRA, 2e-5 with --full.")] = None,
    lora_rank: Annotated[int, typer.Option()] = _TUNE.lora_rank,
    lora_alpha: Annotated[int, typer.Option()] = _TUNE.lora_alpha,
    lora_targets: Annotated[
        str, typer.Option(help="'all-linear' or module names, e.g. q_proj,v_proj.")
    ] = _TUNE.lora_targets,
    max_length: Annotated[int, typer.Option(help="Tokens per example; longer ones are cut.")] = _TUNE.max_length,
    batch_size: Annotated[int, typer.Option()] = _TUNE.batch_size,
    seed: Annotated[int, typer.Option()] = _TUNE.seed,
    logging_steps: Annotated[int, typer.Option(help="Log the loss every N steps.")] = _TUNE.logging_steps,
    threads: Annotated[int, typer.Option(help=_THREADS_HELP)] = _TUNE.threads,
    full: Annotated[bool, typer.Option("--full", help="Train every weight instead of a LoRA adapter.")] = False,
    merge: Annotated[
        bool, typer.Option("--merge", help="Also save the adapter merged into the base, under merged/.")
    ] = False,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer, LoRA by default) on the snapshot's train split."""
    from trainer.finetune import run_finetune

    settings = FinetuneSettings(
        epochs=epochs, max_steps=max_steps, learning_rate=learning_rate, lora_rank=lora_rank, lora_alpha=lora_alpha,
        lora_targets=lora_targets, max_length=max_length, batch_size=batch_size, seed=seed,
        logging_steps=logging_steps, threads=threads, full=full, merge=merge,
    )  # fmt: skip
    try:
        load_snapshot(snapshot, verify=False)  # a wrong folder fails before any model conversion
        base = _resolve("base model", base_model)
        result = run_finetune(snapshot, base, out, settings)
    except _USER_ERRORS as exc:
        _fail(exc)
    typer.echo(msgspec.json.format(msgspec.json.encode(result)))


@cli.command()
def evaluate(
    snapshot: Annotated[Path, typer.Option(help="Snapshot folder (with manifest.json).")],
    model: Annotated[str, typer.Option(help=_MODEL_HELP)],
    compare: Annotated[str, typer.Option(help=_COMPARE_HELP)] = COMPARE_BASE,
    out: Annotated[Path, typer.Option(help="Report folder.")] = Path("evaluation"),
    samples: Annotated[int, typer.Option(help="Sampled answers per code task (n of pass@k).")] = _EVAL.samples,
    k: Annotated[str, typer.Option(help="Comma-separated k values of pass@k.")] = ",".join(map(str, _EVAL.k)),
    max_new_tokens: Annotated[int, typer.Option()] = _EVAL.max_new_tokens,
    temperature: Annotated[float, typer.Option(help="Sampling temperature for code tasks.")] = _EVAL.temperature,
    max_eval_tasks: Annotated[int, typer.Option(help="Non-code tasks scored by generation.")] = _EVAL.max_eval_tasks,
    max_length: Annotated[int, typer.Option(help="Tokens per example for the validation loss.")] = _EVAL.max_length,
    batch_size: Annotated[int, typer.Option()] = _EVAL.batch_size,
    seed: Annotated[int, typer.Option()] = _EVAL.seed,
    threads: Annotated[int, typer.Option(help=_THREADS_HELP)] = _EVAL.threads,
) -> None:
    """Validation loss and perplexity; pass@k on code tasks; exact match and ROUGE-L on the others."""
    from trainer.evaluate import run_evaluation

    try:
        ks = tuple(int(value) for value in k.split(",") if value.strip())
    except ValueError:
        _fail(ValueError(f"--k must be comma-separated integers, got {k!r}"))
    settings = EvalSettings(
        samples=samples, k=ks, max_new_tokens=max_new_tokens, temperature=temperature, max_eval_tasks=max_eval_tasks,
        max_length=max_length, batch_size=batch_size, seed=seed, threads=threads,
    )  # fmt: skip
    try:
        check_settings(settings)
        load_snapshot(snapshot, verify=False)  # a wrong folder fails before any model conversion
        tuned = _resolve("model", model)
        base = comparison_model(compare, tuned, os.environ, _announce_conversion)
        typer.echo(f"compared with: {base or 'nothing (evaluating --model alone)'}", err=True)
        report = run_evaluation(snapshot, Path(tuned), out, settings, compare_path=None if base is None else Path(base))
    except _USER_ERRORS as exc:
        _fail(exc)
    typer.echo(_summary(report))


def _resolve(role: str, setting: str) -> str:
    """The model a setting names, converting the packaged one on first use; says which on stderr."""
    path = resolve_base_model(setting, os.environ, _announce_conversion)
    typer.echo(f"{role}: {path}", err=True)
    return path


def _announce_conversion(target: Path) -> None:
    typer.echo(f"converting the packaged model into {target} (once, about 20 s)", err=True)


def _summary(report: dict) -> str:
    if "rows" in report:
        return "\n".join(
            f"{row['metric']}: base {row['base']} tuned {row['tuned']} delta {row['delta']}" for row in report["rows"]
        )
    return "\n".join(f"{name}: {value}" for name, value in report["metrics"].items())


def _fail(exc: Exception) -> NoReturn:
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(2)


def main() -> None:
    cli()
