"""Which layout an import file has, from the fields of its first rows; when none or several fit, which field
mappings would.

A layout fits when every sampled row holds its required fields:

alpaca             `instruction` and `output`, or `instruction` and `input` without dolly's `response`
dolly              `instruction` and `response` (`context`, `category` optional)
self_instruct      `instruction` and `instances`
sharegpt           `conversations`
messages           `messages`
prompt_completion  `prompt` and `completion`

Precedence, the more specific layout first: `instances` makes a row self-instruct even when it also fits alpaca
or dolly (an `output` or `response` field beside its instances is then metadata). Any other overlap (a row with
both `output` and `response`, both `messages` and `conversations`, `instruction`/`output` and `prompt`/`completion`)
is ambiguous: the importer names the layout or a mapping.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from domain.errors import InvalidInputError
from domain.imports import Layout

SAMPLE_ROWS = 100
MAX_SUGGESTIONS = 3
_REQUIRED: dict[Layout, tuple[frozenset[str], ...]] = {  # any one of the alternatives
    "alpaca": (frozenset({"instruction", "output"}), frozenset({"instruction", "input"})),
    "dolly": (frozenset({"instruction", "response"}),),
    "self_instruct": (frozenset({"instruction", "instances"}),),
    "sharegpt": (frozenset({"conversations"}),),
    "messages": (frozenset({"messages"}),),
    "prompt_completion": (frozenset({"prompt", "completion"}),),
}
# A layout that fits wins over the ones it names (see the module docstring).
_OUTRANKS: dict[Layout, tuple[Layout, ...]] = {"self_instruct": ("alpaca", "dolly")}
# The names people give each part of a record, most likely first (suggested mappings).
_NAMES = {
    "instruction": ("instruction", "prompt", "question", "query", "input", "text"),
    "output": ("output", "response", "answer", "completion", "target"),
    "input": ("context", "input"),
    "category": ("category", "task", "type"),
    "system": ("system",),
}


def detect_layout(sample: list[dict[str, Any]]) -> Layout:
    """The one layout that fits the first `SAMPLE_ROWS` object rows; else an `InvalidInputError`
    (`unknown_layout` or `ambiguous_layout`) with the fields seen, the layouts that fit and suggested mappings."""
    rows = [row for row in sample if isinstance(row, dict)][:SAMPLE_ROWS]
    fitting = [layout for layout in _REQUIRED if rows and all(_fits(layout, row) for row in rows)]
    for layout, outranked in _OUTRANKS.items():
        if layout in fitting:
            fitting = [other for other in fitting if other not in outranked]
    if len(fitting) == 1:
        return fitting[0]
    counts = Counter(key for row in rows for key in row)
    extra = {
        "fields": dict(sorted(counts.items())),
        "fitting_layouts": fitting,
        "suggested_mappings": suggest_mappings(rows),
    }
    seen = f"the first {len(rows)} records (fields: {', '.join(sorted(counts)) or 'none'})"
    if fitting:
        detail = f"several layouts fit {seen}: {', '.join(fitting)}; pass layout= to choose one, or mapping="
        raise InvalidInputError(detail, code="ambiguous_layout", extra=extra)
    detail = (
        f"no known layout fits {seen}: pass layout= to name one, or mapping= to say which fields hold the "
        "instruction, input and output"
    )
    raise InvalidInputError(detail, code="unknown_layout", extra=extra)


def _fits(layout: Layout, row: dict[str, Any]) -> bool:
    if layout == "alpaca" and "output" not in row and "response" in row:
        return False  # instruction + input + response: dolly's answer field, not alpaca's
    return any(required <= row.keys() for required in _REQUIRED[layout])


def suggest_mappings(rows: list[dict[str, Any]]) -> list[dict[str, str]]:
    """Up to `MAX_SUGGESTIONS` `FieldMapping`-shaped dicts from common field names: one per field that could be
    the instruction (text in every row), each with the likeliest output, input, category and system fields."""
    text_fields = _text_fields(rows)
    everywhere = {field for field in text_fields if all(field in row for row in rows)}
    suggestions = []
    for instruction in (name for name in _NAMES["instruction"] if name in everywhere):
        mapping = {"instruction": instruction}
        for part in ("input", "output", "category", "system"):
            name = next((n for n in _NAMES[part] if n in text_fields and n not in mapping.values()), None)
            if name is not None:
                mapping[part] = name
        suggestions.append(dict(sorted(mapping.items(), key=lambda item: list(_NAMES).index(item[0]))))
    return suggestions[:MAX_SUGGESTIONS]


def _text_fields(rows: list[dict[str, Any]]) -> set[str]:
    """Top-level fields whose values are text (strings, numbers or null) in every row that has them."""
    fields = {key for row in rows for key in row}
    return {
        field
        for field in fields
        if all(
            isinstance(row.get(field), str | int | float | None) and not isinstance(row.get(field), bool)
            for row in rows
        )
    }
