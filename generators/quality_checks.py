"""Model-free quality checks: pure functions that return None (keep) or the reason to reject.

The small default model writes some degenerate data on every job: an output that loops on a phrase, an
answer that repeats the input or the instruction, an "instruction" that asks nothing, a refusal, "None" in
place of an answer, a list of bare numbers. Each check below names one such failure, has its thresholds
in `QualityRules`, and says in its docstring why it catches bad data and what it will miss. The checks
run in a fixed order (`INSTANCE_CHECKS`) so that each rejection has exactly one reason.

Entry points: `instruction_quality_rejection(text, rules)` for a candidate instruction and
`instance_quality_rejection(instruction, input, output, rules)` for one written instance; both return
None or `(reason, detail)`, the detail being what a reader needs to see why (the n-gram, the score...).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rapidfuzz.distance import LCSseq

from domain.job_spec import QualityRules
from generators.task_requests import makes_request

Verdict = tuple[str, dict[str, Any]]


_WORD = re.compile(r"[^\W_]+(?:['\u2019][^\W_]+)*")


def words(text: str) -> list[str]:
    """Case-folded word tokens (letters and digits; apostrophes kept inside a word)."""
    return _WORD.findall(text.casefold())


# --- refusal -----------------------------------------------------------------------------------------

# The model speaking about itself as an AI: never part of a real answer to a synthetic task.
_AI_SELF = re.compile(
    r"\bas an? (?:ai language model|ai assistant|ai|artificial intelligence|large language model|language model|"
    r"virtual assistant|chatbot)\b|\bi(?: am|'m) (?:just |only )?an? (?:ai language model|ai assistant|ai|"
    r"language model|chatbot)\b",
    re.IGNORECASE,
)
# Declining to do the task, in the first sentence: "I cannot help with", "I'm sorry, but I can't".
# A verb of an assistant's service must follow, so "I cannot believe", "I can't wait", "I can't help but"
# and a narrator's "I cannot see a thing" are not refusals.
_DECLINE = re.compile(
    r"^\W*(?:(?:i(?:'m| am) )?sorry[,.!]?\s+(?:but\s+)?)?i\s*(?:cannot|can't|can not|am unable to|'m unable to|"
    r"am not able to|'m not able to|won't be able to|will not be able to|do not have the ability to|"
    r"don't have the ability to)\s+(?:help(?! but)|assist|provide|answer|complete|fulfil|fulfill|generate|"
    r"write|create|comply|give(?! up)|perform|access|browse|process|determine|share|offer|respond|draw|"
    r"display|classify|translate)\b",
    re.IGNORECASE,
)
# An assistant's lack, in the first sentence: "(Sorry,) I don't have access to ..." (an apology alone may
# be the task: "I'm sorry, I don't know how I forgot your birthday" is a letter, not a refusal).
_NO_ACCESS = re.compile(
    r"^\W*(?:(?:i(?:'m| am) )?sorry[,.!]?\s+(?:but\s+)?)?i\s*(?:don't|do not) have (?:access to|the ability to|"
    r"the capability to|real-time|personal (?:opinions|experiences|feelings|preferences|beliefs))\b",
    re.IGNORECASE,
)


def refusal(output: str) -> dict[str, Any] | None:
    """`refusal`: the output declines the task or speaks as an AI ("I cannot...", "As an AI...").

    Why: a refusal teaches a fine-tuned model to refuse ordinary tasks, and it answers nothing.
    Caught: "As an AI / a language model" anywhere; in the first sentence, "(Sorry,) I cannot / am unable
    to" followed by an assistant's verb (help, provide, answer, ...), or "I don't have access to / personal
    opinions".
    Missed: refusals worded otherwise ("That is not something I do"), a refusal after a first sentence,
    and hedges ("It depends") that answer nothing without declining.
    """
    text = output.strip()
    first = re.split(r"(?<=[.!?])\s+|\n", text, maxsplit=1)[0]
    for pattern in (_AI_SELF, _DECLINE, _NO_ACCESS):
        found = pattern.search(text if pattern is _AI_SELF else first)
        if found:
            return {"phrase": found.group(0).strip()}
    return None


# --- copies_instruction, copies_input ----------------------------------------------------------------


def overlap(output: str, source: str) -> tuple[float, float, float]:
    """ROUGE-L of the output against the source on word tokens: (precision, recall, F-measure).

    Precision is the share of the output's words that the source holds in order ("how much of the
    output is copied"); recall the share of the source that the output repeats.
    """
    out, src = words(output), words(source)
    if not out or not src:
        return 0.0, 0.0, 0.0
    lcs = LCSseq.similarity(out, src)
    precision, recall = lcs / len(out), lcs / len(src)
    f = 2 * precision * recall / (precision + recall) if lcs else 0.0
    return round(precision, 4), round(recall, 4), round(f, 4)


def copies(output: str, source: str, threshold: float, min_words: int) -> dict[str, Any] | None:
    """The output is (mostly) the source again: ROUGE-L F-measure at or above `threshold`."""
    if len(words(output)) < min_words or not source.strip():
        return None
    precision, recall, f = overlap(output, source)
    return {"rouge_l": f, "precision": precision, "recall": recall} if f >= threshold else None


def copies_instruction(instruction: str, output: str, rules: QualityRules) -> dict[str, Any] | None:
    """`copies_instruction`: the output restates the instruction instead of carrying it out.

    Why: "Write a sentence about the purpose of a piano." answered with the same sentence teaches a
    model to echo its prompt; the small model does this when it does not know what to write.
    Measured by ROUGE-L F between output and instruction (both directions count, so an output that adds
    a word or two to the instruction is caught, and a long answer that starts by restating it is not).
    Missed: an echo buried in a long output, and a paraphrase of the instruction with other words.
    Outputs under `copy_min_words` words are never judged (labels such as "True" are words of the task).
    """
    return copies(output, instruction, rules.copy_instruction_threshold, rules.copy_min_words)


def copies_input(input_text: str, output: str, rules: QualityRules) -> dict[str, Any] | None:
    """`copies_input`: the output is the input again, or nearly (input_equals_output catches exact copies).

    Why: for a task that transforms its input (summarise, correct, translate, answer), an output that
    hands the input back unchanged, or with a word dropped, shows no transformation at all.
    Measured by ROUGE-L F, so an extraction (a short part of a long input) is not a copy: its recall
    is low. Missed: copies of a part of the input with added filler; reordered copies (a "sorted" list
    that is not sorted) are caught only when the order barely changed. A legitimate "fix the typo" answer
    on a long input is close to the input and may be rejected: edit tasks are where this rule errs.
    """
    return copies(output, input_text, rules.copy_input_threshold, rules.copy_min_words)


# --- degenerate_list ---------------------------------------------------------------------------------

# A list marker: "1." / "2)" / "(3)" after whitespace (inline lists are common), or a bullet opening a line.
_MARKER = re.compile(r"(?:(?<=\s)|^)(?:\(?(\d{1,3})[.)])(?=\s|$)|(?:^|(?<=\n))[ \t]*[-*\u2022\u2023\u25aa](?=\s)")
_BARE_MARKER = re.compile(r"\(?\d{1,3}[.)]")


def list_items(text: str) -> list[tuple[str | None, str]]:
    """(marker number or None for a bullet, item text) for each marker; text before the first is not an item.

    A number that ends the text inside a line ("... the answer is 11.") closes a sentence: it is no marker.
    """
    found = list(_MARKER.finditer(text))
    if found and not text[found[-1].end() :].strip() and not _opens_line(text, found[-1].start()):
        found.pop()
    if not found:
        return []
    ends = [m.start() for m in found[1:]] + [len(text)]
    return [(m.group(1), text[m.end() : end].strip()) for m, end in zip(found, ends, strict=True)]


def _opens_line(text: str, at: int) -> bool:
    return not text[:at].strip() or text[:at].rstrip(" \t").endswith("\n")


def degenerate_list(output: str, rules: QualityRules) -> dict[str, Any] | None:
    """`degenerate_list`: a list whose items are empty, numbering only, or repeat each other.

    Why: "1. 2. 2. 2. 3" or "- apple\\n- apple\\n- apple" has the shape of an answer and none of its
    content; the small model falls into these when it runs out of things to list.
    An item is bad when it has no letter or digit, when it is only a list number ("1. 1", a trailing
    "3."), or when it repeats an earlier item (case and punctuation aside). The output is rejected when
    at least `list_min_items` items are found and the bad share exceeds `list_bad_item_share`.
    Missed: items that differ by a word but say the same, and lists of numbers that are simply wrong.
    Wrongly caught: the labels of several classified inputs when one label is most of them
    ("1. yes 2. yes 3. yes"), which self-instruct's one-input classification instances rarely write.
    Numbers as items ("1. 2\\n2. 3\\n3. 5", the first primes) are content, not numbering.
    """
    items = list_items(output)
    if len(items) < rules.list_min_items:
        return None
    seen: set[tuple[str, ...]] = set()
    empty = numbering = repeated = 0
    for number, item in items:
        tokens = tuple(words(item))
        if not tokens:
            empty += 1
        elif _BARE_MARKER.fullmatch(item) or (number is not None and tokens == (str(int(number)),)):
            numbering += 1
        elif tokens in seen:
            repeated += 1
        seen.add(tokens)
    bad = empty + numbering + repeated
    if bad / len(items) <= rules.list_bad_item_share:
        return None
    return {"items": len(items), "empty": empty, "numbering_only": numbering, "repeated": repeated}


# --- repetitive_output -------------------------------------------------------------------------------


def distinct_ratio(tokens: list[str], n: int) -> float:
    """Distinct word n-grams over all n-grams (1.0 when there are none)."""
    grams = [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 1.0


def longest_run(tokens: list[str], max_unit: int) -> tuple[tuple[str, ...], int]:
    """The unit of at most `max_unit` words repeated back to back over the most words, and its repeats.

    For a unit of u words, position i starts a run while tokens[i] == tokens[i + u]; a run of L such
    positions is 1 + L // u copies of the unit. Ties go to the shorter unit. A unit of numbers only is
    data, not a loop ("[[0, 0, 0], [0, 0, 0]]"); a numbering loop is `degenerate_list`'s.
    """
    best: tuple[tuple[str, ...], int] = ((), 1)
    for unit in range(1, max_unit + 1):
        run = 0
        for i in range(len(tokens) - unit):
            run = run + 1 if tokens[i] == tokens[i + unit] else 0
            repeats = 1 + run // unit
            if repeats > 1 and repeats * unit > len(best[0]) * best[1]:
                start = i + 1 - run
                if any(not word.isdigit() for word in tokens[start : start + unit]):
                    best = (tuple(tokens[start : start + unit]), repeats)
    return best


def repetitive_output(output: str, rules: QualityRules) -> dict[str, Any] | None:
    """`repetitive_output`: the output loops ("A podcast, a podcast, a podcast, she actually ...").

    Why: degenerate repetition is the commonest failure of small models at temperature 0.7, and trained
    on, it teaches the loop. Two measures over words (case and punctuation aside):
    - a run: a unit of up to `repeat_max_unit` words said `repeat_min_count` times back to back, the
      run covering at least `repeat_min_covered` words ("no, no, no" and "ha ha ha" are too short);
    - from `repeat_min_words` words on, distinct `repeat_ngram`-grams fewer than `repeat_distinct_min`
      of all (a long output going round in circles, with variations that break a run).
    A poem's refrain comes back after other lines, not back to back, and keeps most n-grams distinct;
    an ingredient list ("1 cup flour, 1 cup sugar") repeats a phrase with new words between.
    Missed: repetition of ideas in other words, loops whose sentences differ in a word each while the
    output is short, and a chorus written out twice (two copies are under `repeat_min_count`).
    """
    tokens = words(output)
    unit, repeats = longest_run(tokens, rules.repeat_max_unit)
    if repeats >= rules.repeat_min_count and repeats * len(unit) >= rules.repeat_min_covered:
        return {"unit": " ".join(unit), "repeats": repeats}
    if len(tokens) >= rules.repeat_min_words:
        distinct = distinct_ratio(tokens, rules.repeat_ngram)
        if distinct < rules.repeat_distinct_min:
            return {"distinct": round(distinct, 4), "n": rules.repeat_ngram, "words": len(tokens)}
    return None


# --- placeholder_output ------------------------------------------------------------------------------

# What a model writes in place of an answer. Yes/no are answers and stay out; so do numbers ("0").
_PLACEHOLDER = re.compile(
    r"\W*(?:none|null|nil|n/?a|nothing|not available|not applicable|no answer|no output|unknown|tbd|"
    r"-+|\.+|\u2026|\?+)\W*",
    re.IGNORECASE,
)


def placeholder_output(output: str) -> dict[str, Any] | None:
    """`placeholder_output`: the whole output is a placeholder ("None", "N/A", "null", "...", "-").

    Why: the instance templates say an input is "None when the task needs no input", and the 135M model
    writes "None" as the answer too: 27 of 400 records (7%) of a record-only job on the default seeds
    (2026-12-02), to questions such as "Which is the largest city in the world?". None of the 345 seed
    instances (human-written) has a placeholder output. Trained on, such pairs teach a model to answer nothing.
    Missed: an extraction whose true answer is "none" (no entity in the input) is rejected with the rest;
    longer evasions ("There is no answer to this") are not placeholders and pass.
    """
    text = output.strip()
    return {"output": text[:40]} if text and _PLACEHOLDER.fullmatch(text) else None


# --- not_a_task --------------------------------------------------------------------------------------


def not_a_task(instruction: str) -> dict[str, Any] | None:
    """`not_a_task`: the instruction makes no request ("I am going to send you a package today.").

    Why: a statement gives the model nothing to do, so whatever it writes as the "output" is arbitrary;
    such pairs teach a model to ramble after any sentence. See `generators.task_requests` for the rules
    (an imperative verb, a question, or a polite request phrase in any clause).
    Missed: statements that open with a word the verb parser takes for an imperative ("Lists are
    useful."), and requests that are impossible or vague but well-formed.
    """
    return None if makes_request(instruction) else {"first_words": " ".join(instruction.split()[:6])}


# --- entry points ------------------------------------------------------------------------------------

InstanceCheck = Callable[[str, str, str, QualityRules], dict[str, Any] | None]

# The fixed order: the most specific failure names the rejection (a refusal that also copies the
# instruction is a refusal; a numbered list of one repeated phrase is a degenerate list, not a loop).
INSTANCE_CHECKS: tuple[tuple[str, InstanceCheck], ...] = (
    ("refusal", lambda _i, _x, out, _r: refusal(out)),
    ("placeholder_output", lambda _i, _x, out, _r: placeholder_output(out)),
    ("copies_instruction", lambda ins, _x, out, r: copies_instruction(ins, out, r)),
    ("copies_input", lambda _i, inp, out, r: copies_input(inp, out, r)),
    ("degenerate_list", lambda _i, _x, out, r: degenerate_list(out, r)),
    ("repetitive_output", lambda _i, _x, out, r: repetitive_output(out, r)),
)
QUALITY_REASONS = ("not_a_task",) + tuple(name for name, _ in INSTANCE_CHECKS)


def instruction_quality_rejection(text: str, rules: QualityRules) -> Verdict | None:
    """None, or ("not_a_task", detail) when the rule is on and the instruction asks nothing."""
    if rules.not_a_task and (detail := not_a_task(text)) is not None:
        return "not_a_task", detail
    return None


def instance_quality_rejection(instruction: str, input_text: str, output: str, rules: QualityRules) -> Verdict | None:
    """None, or the first (reason, detail) in `INSTANCE_CHECKS` order among the rules switched on."""
    for name, check in INSTANCE_CHECKS:
        if getattr(rules, name) and (detail := check(instruction, input_text, output, rules)) is not None:
            return name, detail
    return None


def quality_flags(instruction: str, pairs: list[tuple[str, str]], rules: QualityRules) -> list[dict[str, Any]]:
    """Every verdict for a task and its (input, output) pairs, as `record_only` stores them (empty: clean)."""
    flags: list[dict[str, Any]] = []
    if (verdict := instruction_quality_rejection(instruction, rules)) is not None:
        flags.append({"reason": verdict[0], "instance": None, "detail": verdict[1]})
    for n, (input_text, output) in enumerate(pairs):
        if (verdict := instance_quality_rejection(instruction, input_text, output, rules)) is not None:
            flags.append({"reason": verdict[0], "instance": n, "detail": verdict[1]})
    return flags
