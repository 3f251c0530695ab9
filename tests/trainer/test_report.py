from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from trainer.report import comparison_rows, json_safe, render_markdown, scored_metric_names, write_chart, write_json

BASE = {"validation_loss": 2.0, "perplexity": 7.389, "validation_tokens": 100, "pass@1": 0.25, "pass@10": 0.5,
        "pass@2": 0.3, "code_tasks": 4, "rouge_l": 0.4, "exact_match": 0.0}  # fmt: skip
TUNED = {**BASE, "validation_loss": 1.5, "perplexity": 4.482, "pass@1": 0.25, "pass@2": 0.2, "rouge_l": math.nan}


def test_scored_metrics_come_in_display_order() -> None:
    assert scored_metric_names(BASE) == [
        "validation_loss", "perplexity", "pass@1", "pass@2", "pass@10", "exact_match", "rouge_l"
    ]  # fmt: skip


def test_comparison_rows_hold_deltas_and_direction() -> None:
    rows = {row["metric"]: row for row in comparison_rows(BASE, TUNED)}
    assert rows["validation_loss"] == {
        "metric": "validation_loss", "base": 2.0, "tuned": 1.5, "delta": -0.5, "better": "lower", "improved": True
    }  # fmt: skip
    assert rows["pass@2"]["delta"] == pytest.approx(-0.1)
    assert rows["pass@2"]["improved"] is False
    assert rows["pass@1"]["improved"] is None  # no change
    assert rows["rouge_l"]["tuned"] is None and rows["rouge_l"]["delta"] is None
    assert "validation_tokens" not in rows and "code_tasks" not in rows


def test_markdown_table() -> None:
    base = {"validation_loss": 2.0, "pass@1": 0.25, "validation_tokens": 100}
    tuned = {"validation_loss": 1.5, "pass@1": 0.5, "validation_tokens": 100}
    comparison = {
        "snapshot": {"snapshot_id": "sn_1"},
        "base": {"model": "base", "metrics": base},
        "tuned": {"model": "out", "metrics": tuned},
        "rows": comparison_rows(base, tuned),
    }
    assert render_markdown(comparison) == (
        "# Base vs tuned on snapshot sn_1\n\n"
        "- base: `base`\n- tuned: `out`\n\n"
        "| metric | base | tuned | delta | better |\n"
        "|---|---:|---:|---:|---|\n"
        "| validation_loss | 2.0000 | 1.5000 | -0.5000 ✓ | lower |\n"
        "| pass@1 | 0.2500 | 0.5000 | +0.2500 ✓ | higher |\n\n"
        "Counted over validation tokens: 100.\n"
    )


def test_reports_are_strict_json(tmp_path: Path) -> None:
    assert json_safe({"a": [math.nan, 1.0, math.inf], "b": "x"}) == {"a": [None, 1.0, None], "b": "x"}
    write_json(tmp_path / "r.json", {"loss": math.nan})
    assert json.loads((tmp_path / "r.json").read_text()) == {"loss": None}


def test_chart_is_a_png(tmp_path: Path) -> None:
    write_chart(comparison_rows(BASE, TUNED), tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
