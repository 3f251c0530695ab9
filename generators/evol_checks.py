"""Evol-Instruct's elimination rules as pure checks: each returns None (keep) or a detail saying what failed.

Xu et al. 2023 (WizardLM, section 3.2 "Elimination Evolving") drop an evolution when
1. it gives no information gain over its parent: the paper asks ChatGPT (its appendix prompt); here a
   lexical proxy: the same text after normalisation, ROUGE-L against the parent above a threshold, or, for
   in-depth operators, fewer added words than a margin (the paper's rewriter is told to add 10 to 20 words);
2. the answer contains "sorry" and is short (under 80 words): the model struggled with the evolved task;
3. the answer holds only punctuation and stop words;
4. the evolved task copies words of the evolving prompt ("given prompt", "rewritten prompt", "#Rewritten
   Prompt#" ...); our templates' own labels count as well.
Rule 1 is `evol_no_gain`, rule 4 `evol_copied_prompt`; rules 2 and 3 are `evol_degenerate_answer`, together
with the empty, echoed, repetitive and far-too-short answers that the paper's bigger models did not write.
"""

from __future__ import annotations

import re
from typing import Any

from domain.fingerprint import normalize_instruction
from domain.job_spec import Elimination
from domain.screening import rouge_l_f, rouge_tokens
from generators.filters import instance_rejection

# Rule 4: the paper's own words, then the labels of generators/templates/evol_*.v1.txt.
_PAPER_PROMPT_WORDS = r"#[^#\n]{0,20}prompt#|\b(?:given|rewritten|created)\s+prompt\b"
_TEMPLATE_LABELS = r"\b(?:original\s+task|rewritten\s+task|rewritten\s+input|new\s+task)\s*:"
# ... and the templates' name for the parent, in a sentence: "... the two numbers given by the original task." (seen
# on a real evol run, 2026-12-06); a task of its own has no "original task" to point at.
_TEMPLATE_WORDS = r"\b(?:the|this|that)\s+original\s+task\b"
_COPIED = re.compile(f"{_PAPER_PROMPT_WORDS}|{_TEMPLATE_LABELS}|{_TEMPLATE_WORDS}", re.IGNORECASE)

# Rule 2: phrases of a model that declines; "sorry" is the paper's marker.
_REFUSAL = re.compile(
    r"\b(sorry|i\s+(?:cannot|can\s*not|can't|am\s+unable|'m\s+unable|am\s+not\s+able|'m\s+not\s+able)|as\s+an\s+ai)\b",
    re.IGNORECASE,
)

# Rule 3: English function words (not "yes" and "no": they answer yes/no tasks). A short named list:
# nltk's needs a corpus download, which we do without.
STOP_WORDS = frozenset(
    "a an the and or but if then so of to in on at by for with from as is are was were be been being am do "
    "does did have has had i you he she it we they me him her us them my your his its our their this that "
    "these those there here not what which who whom how why when where all any some can will would "
    "should could may might must shall just also very too only up down out over again".split()
)
_WORD = re.compile(r"[a-z0-9']+")


def prompt_text(instruction: str, input_text: str) -> str:
    """What the paper evolves: the instruction with its input, if any (Alpaca's concatenation)."""
    return f"{instruction}\n{input_text}" if input_text.strip() else instruction


def copied_prompt_words(*texts: str) -> str | None:
    """The first evolving-prompt phrase found in any of `texts`, or None."""
    for text in texts:
        found = _COPIED.search(text)
        if found:
            return found.group(0)
    return None


def copied_example(
    evolved: str, parent: str, examples: tuple[str, ...], *, rules: Elimination
) -> dict[str, Any] | None:
    """Rule 4 for the template's worked examples: None, or the example copied (its score, or the words lifted).

    A copy is a ROUGE-L F above `example_copy_rouge_l` (unless the parent itself resembles the example as
    much: then the likeness is the parent's), or `example_copy_ngram` consecutive words of the example that
    the evolved task has and its parent has not.
    """
    tokens, parent_tokens, limit = rouge_tokens(evolved), rouge_tokens(parent), rules.example_copy_rouge_l
    added = _ngrams(tokens, rules.example_copy_ngram) - _ngrams(parent_tokens, rules.example_copy_ngram)
    for example in examples:
        shown = rouge_tokens(example)
        score = rouge_l_f(tokens, shown)
        if score > limit and rouge_l_f(parent_tokens, shown) <= limit:
            return {"example": example, "rouge_l": round(score, 4)}
        lifted = sorted(added & _ngrams(shown, rules.example_copy_ngram))
        if lifted:  # the words added to the parent come from the example
            return {"example": example, "words": " ".join(lifted[0])}
    return None


def _ngrams(tokens: list[str], n: int) -> set[tuple[str, ...]]:
    return {tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)}


def no_gain(parent: str, evolved: str, *, in_depth: bool, rules: Elimination) -> dict[str, Any] | None:
    """Rule 1 on two prompts (`prompt_text`): None, or {"check", ...} for the first test that failed."""
    if normalize_instruction(parent) == normalize_instruction(evolved):
        return {"check": "equal"}
    score = rouge_l_f(rouge_tokens(evolved), rouge_tokens(parent))
    if score > rules.no_gain_rouge_l:
        return {"check": "rouge_l", "rouge_l": round(score, 4)}
    added = len(evolved.split()) - len(parent.split())
    if in_depth and added < rules.min_added_words:
        return {"check": "too_little_added", "added_words": added}
    return None


def degenerate_answer(
    instruction: str, input_text: str, output: str, *, is_classification: bool, rules: Elimination
) -> dict[str, Any] | None:
    """Rules 2 and 3 and the model-free degeneracies, in a fixed order so each answer has one check."""
    echoed = instance_rejection(input_text, output)  # empty_output, input_equals_output, template_echo
    if echoed:
        return {"check": echoed}
    words = _WORD.findall(output.lower())
    if all(w in STOP_WORDS for w in words):
        return {"check": "stop_words_only"}
    refusal = _REFUSAL.search(output)
    if refusal and not _REFUSAL.search(instruction) and len(output.split()) < rules.refusal_max_words:
        return {"check": "refusal", "marker": refusal.group(0)}
    if not is_classification and len(instruction.split()) >= rules.long_task_words:
        if len(output.split()) < rules.min_answer_words:
            return {"check": "too_short_for_task", "answer_words": len(output.split())}
    return None
