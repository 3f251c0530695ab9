"""Evaluation reports: the comparison table of two models, its Markdown rendering and its bar chart.

Pure apart from `write_chart`, which draws with matplotlib's object API (no pyplot state, Agg canvas).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, Literal

Direction = Literal["lower", "higher"]
# Scored metrics in display order; the counts beside them (tokens, tasks) are context, not compared.
_FIXED_METRICS: dict[str, Direction] = {"validation_loss": "lower", "perplexity": "lower"}
_TRAILING_METRICS: dict[str, Direction] = {"exact_match": "higher", "rouge_l": "higher"}
_PASS_AT = re.compile(r"pass@(\d+)$")


def metric_direction(name: str) -> Direction | None:
    if _PASS_AT.match(name):
        return "higher"
    return _FIXED_METRICS.get(name) or _TRAILING_METRICS.get(name)


def scored_metric_names(*metric_sets: dict[str, Any]) -> list[str]:
    """The compared metrics present in any of the sets: loss, perplexity, pass@k by k, exact match, ROUGE-L."""
    present = {name for metrics in metric_sets for name in metrics if metric_direction(name)}
    pass_names = sorted((name for name in present if _PASS_AT.match(name)), key=lambda n: int(n.split("@")[1]))
    fixed = [name for name in _FIXED_METRICS if name in present]
    return fixed + pass_names + [name for name in _TRAILING_METRICS if name in present]


def comparison_rows(base: dict[str, Any], tuned: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scored metric: both values, tuned minus base, and whether the change is an improvement."""
    rows = []
    for name in scored_metric_names(base, tuned):
        base_value, tuned_value = finite(base.get(name)), finite(tuned.get(name))
        delta = None if base_value is None or tuned_value is None else tuned_value - base_value
        direction = metric_direction(name)
        improved = None if not delta else (delta < 0 if direction == "lower" else delta > 0)  # None: no change
        rows.append(
            {
                "metric": name,
                "base": base_value,
                "tuned": tuned_value,
                "delta": delta,
                "better": direction,
                "improved": improved,
            }
        )
    return rows


def finite(value: Any) -> float | None:
    """A float that JSON can hold, or None (missing, NaN, infinite)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def json_safe(data: Any) -> Any:
    """NaN and infinities as null, so the reports are strict JSON."""
    if isinstance(data, dict):
        return {key: json_safe(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(value) for value in data]
    if isinstance(data, float) and not math.isfinite(data):
        return None
    return data


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(json_safe(data), indent=2, allow_nan=False) + "\n")


def _cell(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "–"
    return f"{value:+.4f}" if signed else f"{value:.4f}"


def render_markdown(comparison: dict[str, Any]) -> str:
    """The comparison as a Markdown table, with the snapshot and models it is about."""
    lines = [
        f"# Base vs tuned on snapshot {comparison['snapshot']['snapshot_id']}",
        "",
        f"- base: `{comparison['base']['model']}`",
        f"- tuned: `{comparison['tuned']['model']}`",
        "",
        "| metric | base | tuned | delta | better |",
        "|---|---:|---:|---:|---|",
    ]
    for row in comparison["rows"]:
        mark = {True: " ✓", False: " ✗", None: ""}[row["improved"]]
        lines.append(
            f"| {row['metric']} | {_cell(row['base'])} | {_cell(row['tuned'])} | {_cell(row['delta'], True)}{mark} "
            f"| {row['better']} |"
        )
    counts = _counts_line(comparison["tuned"]["metrics"])
    if counts:
        lines += ["", counts]
    return "\n".join(lines) + "\n"


def _counts_line(metrics: dict[str, Any]) -> str:
    labels = {
        "validation_tokens": "validation tokens",
        "code_tasks": "code tasks",
        "code_samples": "samples per task",
        "text_tasks": "text tasks",
    }
    parts = [f"{label}: {metrics[key]}" for key, label in labels.items() if metrics.get(key) is not None]
    return ("Counted over " + ", ".join(parts) + ".") if parts else ""


def write_chart(rows: list[dict[str, Any]], path: Path) -> None:
    """A PNG with one small bar panel per metric (their scales differ), base beside tuned."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(2.4 * max(len(rows), 1), 3.2), layout="constrained")
    axes = figure.subplots(1, max(len(rows), 1), squeeze=False)[0]
    for ax, row in zip(axes, rows, strict=False):
        values = [row["base"] or 0.0, row["tuned"] or 0.0]
        bars = ax.bar(["base", "tuned"], values, color=["#9aa5b1", "#2f6fdf"])
        ax.bar_label(bars, labels=[_cell(row["base"]), _cell(row["tuned"])], fontsize=7)
        ax.set_title(f"{row['metric']} ({row['better']} is better)", fontsize=8)
        ax.tick_params(labelsize=7)
    figure.savefig(path, format="png", dpi=110)
