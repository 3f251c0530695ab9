"""What a comparable answer is worth: its kind, and one canonical value per kind. Pure functions.

Self-consistency compares answers by value, not by text: "$0.05", "5 cents" and "The ball costs 0.05."
are one answer; "Positive." and "Answer: positive" are one label. An answer is comparable when it is
- a `label`: the task classifies and the answer is short;
- a `number`: the task asks for a quantity (how many, calculate, solve, ...) and the answer holds a number,
  or the answer is short and holds exactly one number;
- `short`: a short answer to a task with one right answer (not "suggest", "write", "name a ...").
Anything else is free text (None): two good answers to "Write a poem" differ, so agreement means nothing.
"""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal
from fractions import Fraction
from typing import Literal

AnswerKind = Literal["label", "number", "short"]

# Said before an answer, not part of it: "Answer: yes", "The answer is 42", "Label - positive".
_PREFIX = re.compile(
    r"^\s*(?:(?:final\s+|correct\s+)?answer|output|label|class(?:\s+label)?|category|result|response)\s*[:=\-]\s*"
    r"|^\s*(?:the\s+)?(?:final\s+|correct\s+)?answer\s+is\s*:?\s*"
    r"|^\s*(?:it|this|that)\s+is\s+",
    re.IGNORECASE,
)
_LIST_MARKER = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*\u2022])\s+")  # "1. The ball costs ...": numbering, not the answer
_EDGES = "\"'`\u201c\u201d\u2018\u2019()[]{}<>*_.,;:!?- \t\n"
_LEADING = _EDGES.replace(".", "").replace("-", "")  # ".5" and "-3" keep their first character
_ARTICLE = re.compile(r"^(?:a|an|the)\s+")
_YES_NO = re.compile(r"^(yes|no|true|false)\b")

# A task with one right number: a question for a quantity, an arithmetic verb, or an arithmetic expression.
# Not "total", "sum", "mean", "product": they name parts of texts ("sum up", "product description") as often.
_QUANTITY = re.compile(
    r"\bhow\s+(?:many|much|far|long|old|tall|fast)\b|\b(?:calculate|compute|solve|evaluate|convert|simplify)\b"
    r"|\d\s*[-+*/x\u00d7\u00f7^]\s*\d",
    re.IGNORECASE,
)
_CODE = re.compile(r"```|^\s*(?:def|class|return|import)\s|[;{}]\s*$", re.MULTILINE)  # code is compared by tests
# A task with many right answers: its short answer is one choice among many, not a fact to agree on.
_OPEN_ENDED = re.compile(
    r"^\s*(?:please\s+)?(?:write|create|generate|suggest|brainstorm|compose|invent|design|imagine|propose|"
    r"come\s+up|think\s+of|make\s+up|describe|explain|discuss|analy[sz]e|outline|why\b|rewrite|paraphrase|translate|summari[sz]e|give\s+(?:me\s+)?an?\b|"
    r"name\s+(?:a|an|one|some|any|two|three|four|five)\b|list|provide|tell\s+me\s+(?:a|an)\b)",
    re.IGNORECASE,
)

_NUMBER = re.compile(
    r"(?:(?<![\w.])(?P<sign>-))?(?:(?P<cur>[$\u20ac\u00a3])\s?)?"
    r"(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+\.\d+|\.\d+|\d+(?:/\d+)?)"
    r"(?:\s?(?P<unit>cents?\b|\u00a2|%|percent\b))?"
)
_SMALL_NUMBERS = {w: n for n, w in enumerate(
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
    "seventeen eighteen nineteen twenty".split())}  # fmt: skip
_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90}
_NUMBER_WORD = re.compile(
    r"\b(?:(?P<tens>twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety)(?:[-\s](?P<unit>one|two|three|four|"
    r"five|six|seven|eight|nine))?|(?P<small>" + "|".join(_SMALL_NUMBERS) + r"))\b(?:\s(?P<cents>cents?)\b)?",
    re.IGNORECASE,
)
_DECIMALS = Decimal("0.000001")  # 1/3 and 0.333333 agree; 0.33 does not


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def strip_answer(text: str) -> str:
    """The answer without what is said around it: prefixes, list numbering, quotes and end punctuation."""
    text = " ".join(text.split())
    text = _LIST_MARKER.sub("", text, count=1)
    for _ in range(2):  # "Answer: The answer is 5"
        text = _PREFIX.sub("", text, count=1)
    return text.lstrip(_LEADING).rstrip(_EDGES)


def _words(text: str) -> int:
    return len(text.split())


def answer_kind(
    instruction: str, is_classification: bool, output: str, *, short_max_words: int = 5
) -> AnswerKind | None:
    """How `output` can be compared with other answers to `instruction`; None for free text."""
    answer = strip_answer(output)
    if not answer or _CODE.search(output):
        return None
    short = _words(answer) <= short_max_words
    if is_classification:
        return "label" if short else None
    if short and len(_numbers(answer)) == 1:
        return "number"
    if _QUANTITY.search(instruction) and any(True for _ in _NUMBER.finditer(answer)):  # a worked answer: digits
        return "number"
    if short and not _OPEN_ENDED.search(instruction):
        return "short"
    return None


def normalise_label(text: str) -> str:
    """Reduce a label to its word: `Answer: Positive.` -> positive, `Yes, it does` -> yes, `a question` -> question."""
    label = _ARTICLE.sub("", _fold(strip_answer(text)).strip(_EDGES))
    yes_no = _YES_NO.match(label)
    return yes_no.group(1) if yes_no else label


_OFFERS_CHOICES = re.compile(r"\bor\b|\bone of\b", re.IGNORECASE)


def off_list(instruction: str, label: str) -> bool:
    """True for a label the instruction does not offer, when it offers some ("... positive or negative").

    The 135M model answers "negative" to "Route the ticket to billing, shipping, or account access" five
    times out of five (it copies a few-shot example): agreement without this check would keep it.
    """
    if not _OFFERS_CHOICES.search(instruction) or not label:
        return False
    return re.search(rf"(?<!\w){re.escape(label)}(?!\w)", _fold(instruction)) is None


def normalise_short(text: str) -> str:
    """Case, spacing, quotes, end punctuation and a leading article do not change a short answer."""
    return _ARTICLE.sub("", _fold(strip_answer(text)).strip(_EDGES))


def _value(match: re.Match[str]) -> Fraction:
    digits = match.group("num").replace(",", "")
    top, _, bottom = digits.partition("/")
    value = Fraction(top) / int(bottom) if bottom and int(bottom) else Fraction(top)
    if match.group("sign"):
        value = -value
    if (match.group("unit") or "").startswith(("cent", "\u00a2")):
        value /= 100
    return value


def _word_value(match: re.Match[str]) -> Fraction:
    tens, unit, small = (match.group(g) for g in ("tens", "unit", "small"))
    if tens:
        value = _TENS[tens.lower()] + (_SMALL_NUMBERS[unit.lower()] if unit else 0)
    else:
        value = _SMALL_NUMBERS[small.lower()]
    return Fraction(value, 100 if match.group("cents") else 1)


def _numbers(text: str) -> list[Fraction]:
    """The numbers in `text` in order; number words ("five cents") only where no digits are written."""
    return [_value(m) for m in _NUMBER.finditer(text)] or [_word_value(m) for m in _NUMBER_WORD.finditer(text)]


def _canonical(value: Fraction) -> str:
    if value.denominator == 1:
        return str(value.numerator)
    exact = (Decimal(value.numerator) / Decimal(value.denominator)).quantize(_DECIMALS)
    return format(exact.normalize(), "f")


def normalise_number(text: str) -> str | None:
    """The answer's number as a canonical string ("$1,000.50" -> "1000.5", "5 cents" -> "0.05"); None if none.

    The last number is the answer: a worked solution ends with its result ("... = $63."). Units other
    than cents are dropped ("48 km" -> "48"), a percent keeps its number ("25%" -> "25").
    """
    numbers = _numbers(strip_answer(text))
    return _canonical(numbers[-1]) if numbers else None


def normalise(kind: AnswerKind, text: str) -> str:
    """The value answers of `kind` are compared by; an answer without a number keeps its folded text."""
    if kind == "label":
        return normalise_label(text)
    if kind == "number":
        number = normalise_number(text)
        return number if number is not None else "text:" + normalise_short(text)
    return normalise_short(text)
