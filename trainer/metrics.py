"""Scoring model answers: the unbiased pass@k estimator, code extraction, exact match and ROUGE-L.

Pure functions; `rouge_l_f` imports `rouge_score` when first called.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

_FENCE = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)
_PYTHON_TAGS = {"", "python", "py", "python3"}
_TOP_LEVEL_CODE = re.compile(r"(?:async\s+def|def|class|import|from|@|if __name__)\b|[A-Za-z_]\w*\s*(?:=|\(|\[)")


def pass_at_k(n: int, c: int, k: int) -> float:
    """Chen et al. (2021): 1 - C(n-c, k) / C(n, k), the chance that one of k of the n samples passes.

    Computed as a product, which stays exact for large n where the binomials overflow a float.
    """
    if not 0 <= c <= n or k < 1:
        raise ValueError(f"pass@k needs 0 <= c <= n and k >= 1 (n={n}, c={c}, k={k})")
    if k > n:
        raise ValueError(f"pass@{k} needs at least {k} samples per task, got {n}")
    if n - c < k:
        return 1.0
    return 1.0 - math.prod(1.0 - k / i for i in range(n - c + 1, n + 1))


def mean_pass_at_k(results: Sequence[tuple[int, int]], k: int) -> float:
    """pass@k averaged over tasks, each given as (samples, passed)."""
    if not results:
        return math.nan
    return sum(pass_at_k(n, c, k) for n, c in results) / len(results)


def extract_code(answer: str, entry_point: str = "") -> str:
    """The program in a model's answer.

    A fenced block wins: the first Python (or untagged) one that defines `entry_point`, else the first Python
    block, else the first block. A fence left open by the token limit runs to the end. Without fences, the
    code starts at the first line that looks like top-level Python and stops at the first prose line after it.
    """
    blocks = [(tag.lower(), body) for tag, body in _FENCE.findall(answer)]
    if blocks:
        python = [body for tag, body in blocks if tag in _PYTHON_TAGS] or [body for _, body in blocks]
        defining = [body for body in python if entry_point and f"def {entry_point}" in body]
        return (defining or python)[0].strip("\n")
    return _unfenced_code(answer)


def _unfenced_code(answer: str) -> str:
    lines = answer.splitlines()
    start = next((i for i, line in enumerate(lines) if _TOP_LEVEL_CODE.match(line)), None)
    if start is None:
        return answer.strip()
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line[0].isspace() and not _TOP_LEVEL_CODE.match(line):
            break
        end += 1
    return "\n".join(lines[start:end]).strip("\n")


def normalise_answer(text: str) -> str:
    """Whitespace collapsed: exact match ignores line breaks and indentation changes, nothing else."""
    return " ".join(text.split())


def exact_match(prediction: str, reference: str) -> bool:
    return normalise_answer(prediction) == normalise_answer(reference)


def rouge_l_f(prediction: str, reference: str) -> float:
    """ROUGE-L F-measure with rouge_score's defaults (lower-cased ASCII words, no stemming)."""
    from rouge_score import rouge_scorer

    return rouge_scorer.RougeScorer(["rougeL"]).score(reference, prediction)["rougeL"].fmeasure
