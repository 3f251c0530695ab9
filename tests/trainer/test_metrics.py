from __future__ import annotations

import math

import pytest

from trainer.metrics import exact_match, extract_code, mean_pass_at_k, pass_at_k, rouge_l_f


@pytest.mark.parametrize(
    ("n", "c", "k", "expected"),
    [
        (5, 1, 1, 0.2),
        (5, 0, 1, 0.0),
        (5, 0, 5, 0.0),
        (5, 5, 1, 1.0),
        (5, 4, 2, 1.0),  # n - c < k: every k-subset holds a passing sample
        (2, 1, 1, 0.5),
        (2, 1, 2, 1.0),
        (10, 3, 5, 1 - 21 / 252),  # 1 - C(7,5) / C(10,5)
        (200, 10, 1, 0.05),
    ],
)
def test_pass_at_k_literal_values(n: int, c: int, k: int, expected: float) -> None:
    assert pass_at_k(n, c, k) == pytest.approx(expected, abs=1e-12)


def test_pass_at_k_matches_the_binomial_form() -> None:
    for n, c, k in [(20, 3, 5), (100, 17, 10), (7, 2, 3)]:
        assert pass_at_k(n, c, k) == pytest.approx(1 - math.comb(n - c, k) / math.comb(n, k))


@pytest.mark.parametrize(("n", "c", "k"), [(2, 1, 3), (5, 6, 1), (5, -1, 1), (5, 1, 0)])
def test_pass_at_k_rejects_impossible_arguments(n: int, c: int, k: int) -> None:
    with pytest.raises(ValueError):
        pass_at_k(n, c, k)


def test_mean_pass_at_k_averages_over_tasks() -> None:
    assert mean_pass_at_k([(2, 1), (2, 0), (2, 2)], 1) == pytest.approx(0.5)
    assert mean_pass_at_k([(2, 1), (2, 0)], 2) == pytest.approx(0.5)
    assert math.isnan(mean_pass_at_k([], 1))


def test_extract_code_takes_the_python_block() -> None:
    answer = "Here is the function:\n\n```python\ndef fib(n):\n    return n\n```\n\nIt returns n."
    assert extract_code(answer, "fib") == "def fib(n):\n    return n"


def test_extract_code_prefers_the_block_defining_the_entry_point() -> None:
    answer = (
        "Example:\n```\nprint(fib(3))\n```\nSolution:\n```py\ndef fib(n):\n    return 1\n```\n"
        "```bash\npython fib.py\n```"
    )
    assert extract_code(answer, "fib") == "def fib(n):\n    return 1"
    assert extract_code(answer) == "print(fib(3))"


def test_extract_code_skips_other_languages_when_python_is_there() -> None:
    answer = "```bash\npip install nothing\n```\n```Python\nx = 1\n```"
    assert extract_code(answer) == "x = 1"


def test_extract_code_reads_a_fence_cut_by_the_token_limit() -> None:
    assert extract_code("Sure!\n```python\ndef add(a, b):\n    return a +", "add") == "def add(a, b):\n    return a +"


def test_extract_code_without_fences_cuts_the_prose_around() -> None:
    answer = (
        "Sure, here is a solution.\nimport math\n\ndef area(r):\n    return math.pi * r ** 2\n\n"
        "print(area(1))\nThis computes the area of a circle."
    )
    assert extract_code(answer, "area") == "import math\n\ndef area(r):\n    return math.pi * r ** 2\n\nprint(area(1))"


def test_extract_code_without_code_returns_the_answer() -> None:
    assert extract_code("  I do not know.  \n") == "I do not know."


def test_exact_match_ignores_whitespace_only() -> None:
    assert exact_match("The sum is\n 7. ", "The sum is 7.")
    assert not exact_match("the sum is 7.", "The sum is 7.")


def test_rouge_l_f_literal_values() -> None:
    assert rouge_l_f("a cat sat on a mat", "the cat sat on the mat") == pytest.approx(2 / 3)
    assert rouge_l_f("The sum is 7.", "the sum is 7") == pytest.approx(1.0)
    assert rouge_l_f("", "anything") == 0.0
