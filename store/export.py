"""Streamed JSON Lines exports in the formats trainers read.

DuckDB renders every line (JSON text by concatenation around `to_json` of each string, which escapes
it) and hands a page of lines over as one Arrow buffer, so Python does no per-row work: a page is one
copy of a few megabytes. Pages are cut by text size, so memory stays flat whatever the dataset's size
and however long its records are.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

import msgspec
import pyarrow as pa

from store.database import Store
from store.datasets import require_dataset
from store.records import RecordFilter
from store.tasks import filter_clause

ExportFormat = Literal["alpaca", "sharegpt", "messages", "prompt_completion"]

# Expressions a format may use. The user turn is the instruction, then the input (if any) after a
# blank line, as Alpaca's trainers build it.
_EXPRESSIONS = {
    "INSTRUCTION": "t.instruction",
    "INPUT": "i.input",
    "OUTPUT": "i.output",
    "PROMPT": "CASE WHEN i.input = '' THEN t.instruction ELSE t.instruction || chr(10) || chr(10) || i.input END",
}

# Each format is compact JSON text with $NAME where a JSON string of that expression goes, and %SYSTEM% where a
# chat format's optional system turn goes (snapshots only). ShareGPT keeps its own from/value and human/gpt, as
# LLaMA-Factory's and axolotl's sharegpt readers expect; `messages` is the role/content form chat templates read.
_TEMPLATES: dict[str, str] = {
    "alpaca": '{"instruction":$INSTRUCTION,"input":$INPUT,"output":$OUTPUT}',
    "sharegpt": '{"conversations":[%SYSTEM%{"from":"human","value":$PROMPT},{"from":"gpt","value":$OUTPUT}]}',
    "messages": '{"messages":[%SYSTEM%{"role":"user","content":$PROMPT},{"role":"assistant","content":$OUTPUT}]}',
    # TRL's conversational prompt/completion: the loss falls on the completion only.
    "prompt_completion": '{"prompt":[%SYSTEM%{"role":"user","content":$PROMPT}],'
    '"completion":[{"role":"assistant","content":$OUTPUT}]}',
}
EXPORT_FORMATS: tuple[str, ...] = tuple(_TEMPLATES)
SYSTEM_SLOT = "%SYSTEM%"
# The system turn in each format that has one (the first turn of the conversation); alpaca has none.
_SYSTEM_TURNS = {
    "sharegpt": '{"from":"system","value":%s},',
    "messages": '{"role":"system","content":%s},',
    "prompt_completion": '{"role":"system","content":%s},',
}
CHAT_FORMATS: tuple[str, ...] = tuple(_SYSTEM_TURNS)


def line_sql(template: str, system_turn: str = "") -> str:
    """SQL that renders one JSON line from a template: literals quoted, $NAME as to_json(expression).

    `system_turn` (JSON text) replaces %SYSTEM% after the split on "$", so a "$" in it stays text.
    """
    parts = []
    for n, piece in enumerate(template.split("$")):
        if n:
            name = next(key for key in _EXPRESSIONS if piece.startswith(key))
            parts.append(f"to_json({_EXPRESSIONS[name]})")
            piece = piece[len(name) :]
        piece = piece.replace(SYSTEM_SLOT, system_turn)
        if piece:
            parts.append("'" + piece.replace("'", "''") + "'")
    return " || ".join([*parts, "chr(10)"])


def format_line_sql(fmt: str, system_prompt: str | None = None) -> str:
    """The line SQL of a format, with `system_prompt` as the conversation's first (system) turn when given."""
    if system_prompt is None:
        return LINE_SQL[fmt]
    if fmt not in _SYSTEM_TURNS:
        raise ValueError(f"the {fmt!r} format has no system turn")
    return line_sql(_TEMPLATES[fmt], _SYSTEM_TURNS[fmt] % msgspec.json.encode(system_prompt).decode())


LINE_SQL = {name: line_sql(template) for name, template in _TEMPLATES.items()}

# Page boundaries: the last task id of each run of about `page_chars` characters of text.
_PAGE_ENDS = """
    SELECT max(id) FROM (
        SELECT id, sum(text_chars) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) // ? AS page
        FROM tasks WHERE dataset_id = ? AND id <= ? {filters}
    ) GROUP BY page ORDER BY 1
"""
_PAGE_LINES = """
    SELECT {line} AS line FROM tasks t JOIN instances i ON i.task_id = t.id
    WHERE t.dataset_id = ? AND i.dataset_id = ? AND t.id > ? AND t.id <= ? AND i.task_id > ? AND i.task_id <= ?
    {filters}
    ORDER BY t.id, i.position
"""
# U+2028/U+2029 are valid raw inside JSON strings, but line splitters such as Python's str.splitlines
# break on them; escaped, every consumer sees one record per "\n". They only occur inside strings.
_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def open_export(
    store: Store,
    dataset_id: str,
    export_format: ExportFormat,
    record_filter: RecordFilter,
    *,
    page_chars: int = 8_000_000,
) -> Iterator[bytes]:
    """Check the request and plan the pages now (errors surface before streaming); return the chunks.

    The export covers the tasks present when it was opened: later arrivals have larger ids.
    """
    if export_format not in LINE_SQL:
        raise ValueError(f"unknown export format {export_format!r}")
    filters, params = filter_clause(record_filter)
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        last_id = cur.execute("SELECT coalesce(max(id), 0) FROM tasks WHERE dataset_id = ?", [dataset_id]).fetchall()
        page_ends_sql = _PAGE_ENDS.format(filters=filters)
        page_ends = [
            row[0] for row in cur.execute(page_ends_sql, [page_chars, dataset_id, last_id[0][0], *params]).fetchall()
        ]
    return _export_chunks(store, dataset_id, LINE_SQL[export_format], record_filter, page_ends)


def _export_chunks(
    store: Store, dataset_id: str, line: str, record_filter: RecordFilter, page_ends: list[int]
) -> Iterator[bytes]:
    filters, params = filter_clause(record_filter, alias="t")
    lines_sql = _PAGE_LINES.format(line=line, filters=filters)
    after = 0
    for end in page_ends:
        with store.read() as cur:  # a cursor per page: the iterator may resume on another thread
            table = cur.sql(
                lines_sql, params=[dataset_id, dataset_id, after, end, after, end, *params]
            ).to_arrow_table()
        for column_chunk in table.column("line").chunks:
            data = concatenated_lines(column_chunk)
            if data:
                yield data
        after = end


def concatenated_lines(lines: pa.Array) -> bytes:
    """All strings of an Arrow string array back to back: one slice of its data buffer."""
    if lines.type not in (pa.string(), pa.large_string()):
        lines = lines.cast(pa.large_string())
    offsets = memoryview(lines.buffers()[1]).cast("i" if lines.type == pa.string() else "q")
    start, stop = offsets[lines.offset], offsets[lines.offset + len(lines)]
    data = lines.buffers()[2][start:stop].to_pybytes() if stop > start else b""
    for raw, escaped in _LINE_SEPARATORS:
        if raw in data:
            data = data.replace(raw, escaped)
    return data
