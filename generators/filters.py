"""Quality filters: pure functions that return None (keep) or the reason to reject."""

from __future__ import annotations

import re
import string

from domain.job_spec import InstructionRules


def _banned_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile(r"\b(" + "|".join(re.escape(w) for w in words) + r")\b", re.IGNORECASE)


def instruction_rejection(text: str, rules: InstructionRules) -> str | None:
    """The self-instruct heuristics, in a fixed order so each rejection has one reason."""
    words = text.split()
    if len(words) < rules.min_words:
        return "too_short"
    if len(words) > rules.max_words:
        return "too_long"
    if _banned_pattern(rules.banned_words).search(text):
        return "banned_word"
    if text.lower().startswith("write a program"):
        return "asks_for_program"
    if text[0] in string.punctuation:
        return "starts_with_punctuation"
    if not text[0].isascii():
        return "starts_with_non_ascii"
    return None


# A request for code: a programming language named, or a verb of making followed within a few words by
# a code artefact. On the 320 tasks of a self-instruct job it caught 75, all of them asking for code.
_CODE_REQUEST = re.compile(
    r"(?<!\w)(python|javascript|java|c\+\+|c#|sql|ruby|rust|golang|typescript|html|css|bash|regex)(?!\w)"
    r"|\b(write|create|implement|build|develop|generate|code|program|design)\b\W+(?:\w+\W+){0,4}?"
    r"(function|program|script|class|method|algorithm|code|snippet|query|api|loop)\b",
    re.IGNORECASE,
)


def asks_for_code(text: str) -> bool:
    return _CODE_REQUEST.search(text) is not None


# A field that holds the prompt's own labels is the model echoing the template, not an answer; so is one that
# holds the instance templates' own note on inputs ("None when the task needs no input": seen as an input on a
# real job, 2026-12-02).
_TEMPLATE_LABEL = re.compile(
    r"(^|\n)\s*(Task|Input|Output|Class label)\s*:|when the task needs no input", re.IGNORECASE
)


def instance_rejection(input_text: str, output_text: str) -> str | None:
    if not output_text.strip():
        return "empty_output"
    if input_text.strip() == output_text.strip():
        return "input_equals_output"
    if _TEMPLATE_LABEL.search(input_text) or _TEMPLATE_LABEL.search(output_text):
        return "template_echo"
    return None


def consistent_instances(pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Drop repeated (input, output) pairs, and every pair whose input also comes with another output."""
    outputs: dict[str, set[str]] = {}
    for input_text, output_text in pairs:
        outputs.setdefault(input_text.strip(), set()).add(output_text.strip())
    kept, seen = [], set()
    for input_text, output_text in pairs:
        key = (input_text.strip(), output_text.strip())
        if len(outputs[key[0]]) > 1 or key in seen:
            continue
        seen.add(key)
        kept.append((input_text, output_text))
    return kept
