"""Evaluating a model on a snapshot's validation split, alone or against a base model.

Every model gets the validation loss over answer tokens and its perplexity. Code tasks (code_tests.jsonl,
validation split) get pass@k: `samples` sampled answers per task, the code pulled out of each and run against
the task's tests in `generators.sandbox`, scored with the unbiased estimator. The other validation tasks get
exact match and ROUGE-L F of a greedy answer against the reference.
"""

from __future__ import annotations

import gc
import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import msgspec

from trainer.formats import completion_text, last_user_text, to_prompt_completion, user_turn
from trainer.generation import generate_answers, validation_loss
from trainer.metrics import exact_match, extract_code, mean_pass_at_k, rouge_l_f
from trainer.modeling import load_for_inference, preferred_dtype, set_threads
from trainer.report import comparison_rows, render_markdown, write_chart, write_json
from trainer.snapshot import CodeTask, Snapshot, load_snapshot

EXAMPLES_KEPT = 3  # answers kept in the report per model, for a reader to eyeball


class EvaluationError(Exception):
    """Evaluation cannot run as asked (e.g. pass@k without the sandbox)."""


class EvalSettings(msgspec.Struct, frozen=True, kw_only=True):
    samples: int = 10
    k: tuple[int, ...] = (1, 5)
    max_new_tokens: int = 512
    temperature: float = 0.8
    top_p: float = 0.95
    max_eval_tasks: int = 50
    max_length: int = 1024
    batch_size: int = 8
    seed: int = 0
    sandbox_parallel: int = 0  # 0: one per CPU core
    threads: int = 0  # torch CPU threads; 0: one per core


def check_settings(settings: EvalSettings) -> None:
    too_large = [k for k in settings.k if k > settings.samples]
    if too_large:
        raise EvaluationError(f"pass@{too_large[0]} needs --samples >= {too_large[0]} (got {settings.samples})")


def run_evaluation(
    snapshot_path: Path, model_path: Path, out: Path, settings: EvalSettings, compare_path: Path | None = None
) -> dict[str, Any]:
    """Evaluate `model_path` (against `compare_path` as the base when given); write the report files into `out`."""
    check_settings(settings)
    snapshot = load_snapshot(snapshot_path)
    out.mkdir(parents=True, exist_ok=True)
    set_threads(settings.threads)
    header = {
        "snapshot": {
            "snapshot_id": snapshot.manifest.snapshot_id,
            "content_sha256": snapshot.manifest.content_sha256,
            "path": str(snapshot.path.resolve()),
        },
        "settings": msgspec.to_builtins(settings),
    }
    tuned = evaluate_model(snapshot, model_path, settings)
    if compare_path is None:
        report = {**header, **tuned}
        write_json(out / "evaluation.json", report)
        return report
    base = evaluate_model(snapshot, compare_path, settings)
    report = {**header, "base": base, "tuned": tuned, "rows": comparison_rows(base["metrics"], tuned["metrics"])}
    write_json(out / "comparison.json", report)
    (out / "comparison.md").write_text(render_markdown(report))
    write_chart(report["rows"], out / "comparison.png")
    return report


def evaluate_model(snapshot: Snapshot, model_path: Path, settings: EvalSettings) -> dict[str, Any]:
    """All metrics of one model; the model is loaded here and released before returning."""
    dtype = preferred_dtype()
    model, tokenizer = load_for_inference(model_path, dtype)
    try:
        pairs = [to_prompt_completion(record, snapshot.format) for record in snapshot.records("validation")]
        loss, tokens = validation_loss(
            model, tokenizer, pairs, max_length=settings.max_length, batch_size=max(1, settings.batch_size // 2)
        )
        metrics: dict[str, Any] = {
            "validation_loss": loss,
            "perplexity": math.exp(loss) if math.isfinite(loss) else math.nan,
            "validation_tokens": tokens,
        }
        report: dict[str, Any] = {"model": str(model_path), "dtype": dtype, "metrics": metrics}
        code_tasks = snapshot.code_tasks("validation")
        if code_tasks:
            code_metrics, report["code_tasks"] = score_code(model, tokenizer, code_tasks, settings)
            metrics.update(code_metrics)
        code_prompts = {user_turn(task.instruction, task.input) for task in code_tasks}
        text_pairs = [pair for pair in pairs if last_user_text(pair) not in code_prompts][: settings.max_eval_tasks]
        if text_pairs:
            text_metrics, report["examples"] = score_text(model, tokenizer, text_pairs, settings)
            metrics.update(text_metrics)
        return report
    finally:
        del model
        gc.collect()


def score_code(
    model: Any, tokenizer: Any, tasks: list[CodeTask], settings: EvalSettings
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """pass@k over the tasks, and per task its passes and the sandbox's verdicts."""
    import torch

    torch.manual_seed(settings.seed)
    prompts = [[{"role": "user", "content": user_turn(task.instruction, task.input)}] for task in tasks]
    answers = generate_answers(
        model, tokenizer, prompts, samples=settings.samples, max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature, top_p=settings.top_p, batch_size=settings.batch_size,
    )  # fmt: skip
    jobs = [
        (extract_code(answer, task.entry_point), list(task.tests))
        for task, group in zip(tasks, answers, strict=True)
        for answer in group
    ]
    statuses = [result.status for result in _run_sandbox(jobs, settings)]
    per_task, counts = [], []
    for index, task in enumerate(tasks):
        verdicts = statuses[index * settings.samples : (index + 1) * settings.samples]
        passed = verdicts.count("passed")
        counts.append((len(verdicts), passed))
        per_task.append({"task_id": task.task_id, "samples": len(verdicts), "passed": passed,
                         "statuses": dict(Counter(verdicts))})  # fmt: skip
    metrics: dict[str, Any] = {f"pass@{k}": mean_pass_at_k(counts, k) for k in sorted(set(settings.k))}
    metrics.update(code_tasks=len(tasks), code_samples=settings.samples)
    return metrics, per_task


def _run_sandbox(jobs: list[tuple[str, list[str]]], settings: EvalSettings) -> list[Any]:
    try:
        from generators.sandbox import Sandbox, SandboxLimits
    except ImportError as exc:
        raise EvaluationError(f"pass@k runs the tests in generators.sandbox, which is unavailable: {exc}") from exc
    parallel = settings.sandbox_parallel or os.cpu_count() or 1
    with Sandbox(SandboxLimits(), max_parallel=parallel) as sandbox:
        return sandbox.run_many(jobs)


def score_text(
    model: Any, tokenizer: Any, pairs: list[dict[str, Any]], settings: EvalSettings
) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """Exact match and ROUGE-L F of greedy answers against the references, and the first few answers."""
    prompts = [pair["prompt"] for pair in pairs]
    answers = generate_answers(
        model, tokenizer, prompts, samples=1, max_new_tokens=settings.max_new_tokens, temperature=0.0,
        top_p=1.0, batch_size=settings.batch_size,
    )  # fmt: skip
    predictions = [group[0] for group in answers]
    references = [completion_text(pair) for pair in pairs]
    matches = [exact_match(p, r) for p, r in zip(predictions, references, strict=True)]
    rouge = [rouge_l_f(p, r) for p, r in zip(predictions, references, strict=True)]
    metrics = {"exact_match": sum(matches) / len(matches), "rouge_l": sum(rouge) / len(rouge), "text_tasks": len(pairs)}
    examples = [
        {"prompt": last_user_text(pair), "reference": reference, "answer": prediction}
        for pair, reference, prediction in zip(pairs, references, predictions, strict=True)
    ][:EXAMPLES_KEPT]
    return metrics, examples
