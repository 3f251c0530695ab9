"""Streamed JSON Lines exports in the formats trainers read.

DuckDB renders every line (JSON text by concatenation around `to_json` of each string, which escapes
it) and hands a page of lines over as one Arrow buffer, so Python does no per-row work: a page is one
copy of a few megabytes. Pages are cut by text size, so memory stays flat whatever the dataset's size
and however long its records are.

A task kept with a multi-turn chat (`conversations`) renders every turn in the chat formats: its first exchange
from the task's instruction and instance (what every check read, and what an `annotate` job may have written),
the later turns from the chat, up to its last answer (a trailing question has nothing to train on, and readers
that pair turns, such as LLaMA-Factory's, drop a record with an odd number). The Alpaca format holds one exchange:
it takes the first and the export says how many chats it cut (`ExportStream.conversations_cut`). The chat's own
system prompt is data and is kept; a snapshot's `system_prompt` is the system turn of the records without one.
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

# The chats of a dataset's tasks, as the lines use them (alias v): `later`, the turns after the first exchange up to
# the last answer (empty for a one-exchange chat kept for its system prompt), and the system prompt.
CHATS = """(
    SELECT task_id, dataset_id, system,
           list_slice(turns, 3, len(turns) + 1 - coalesce(
               list_position(list_reverse(list_transform(turns, lambda x: x.role)), 'assistant'), len(turns)
           )) AS later
    FROM conversations
)"""
MULTI_TURN = "len(v.later) > 0"  # a record with more than one exchange (false, as NULL, for a task without a chat)


def _more(turns: str) -> str:
    """Turns (a list SQL expression) as JSON text to append after a turn: `,{...},{...}`, or '' for none."""
    return f"CASE WHEN len({turns}) > 0 THEN ',' || trim(to_json({turns}), '[]') ELSE '' END"


# ShareGPT's turns: from/value, human/gpt.
_SHAREGPT_TURNS = (
    "list_transform(v.later, lambda x: "
    "{'from': CASE x.role WHEN 'user' THEN 'human' ELSE 'gpt' END, 'value': x.content})"
)
_FIRST_ANSWER = """',{"role":"assistant","content":' || to_json(i.output) || '}'"""
# Expressions a format may use, each SQL giving JSON text. The user turn is the instruction, then the input (if any)
# after a blank line, as Alpaca's trainers build it.
_EXPRESSIONS = {
    "INSTRUCTION": "to_json(t.instruction)",
    "INPUT": "to_json(i.input)",
    "OUTPUT": "to_json(i.output)",
    "PROMPT": "to_json(CASE WHEN i.input = '' THEN t.instruction "
    "ELSE t.instruction || chr(10) || chr(10) || i.input END)",
    # The later turns of a chat, after its first answer (sharegpt's from/value, or role/content).
    "LATER_SHAREGPT": _more(_SHAREGPT_TURNS),
    "LATER_MESSAGES": _more("v.later"),
    # prompt_completion: the prompt runs to the last question, the completion is the last answer.
    "EARLIER": f"CASE WHEN len(v.later) > 0 THEN {_FIRST_ANSWER} || {_more('list_slice(v.later, 1, -2)')} ELSE '' END",
    "LAST_ANSWER": "to_json(coalesce(v.later[-1].content, i.output))",
}

# Each format is compact JSON text with $NAME where that expression's JSON goes, and %SYSTEM% where a chat format's
# system turn goes (the record's own, else a snapshot's). ShareGPT keeps its own from/value and human/gpt, as
# LLaMA-Factory's and axolotl's sharegpt readers expect; `messages` is the role/content form chat templates read.
_TEMPLATES: dict[str, str] = {
    "alpaca": '{"instruction":$INSTRUCTION,"input":$INPUT,"output":$OUTPUT}',
    "sharegpt": '{"conversations":[%SYSTEM%{"from":"human","value":$PROMPT},{"from":"gpt","value":$OUTPUT}'
    "$LATER_SHAREGPT]}",
    "messages": '{"messages":[%SYSTEM%{"role":"user","content":$PROMPT},{"role":"assistant","content":$OUTPUT}'
    "$LATER_MESSAGES]}",
    # TRL's conversational prompt/completion: the loss falls on the completion only.
    "prompt_completion": '{"prompt":[%SYSTEM%{"role":"user","content":$PROMPT}$EARLIER],'
    '"completion":[{"role":"assistant","content":$LAST_ANSWER}]}',
}
EXPORT_FORMATS: tuple[str, ...] = tuple(_TEMPLATES)
SYSTEM_SLOT = "%SYSTEM%"
# The system turn in each format that has one (the first turn of the conversation), around its JSON string.
_SYSTEM_TURNS = {
    "sharegpt": ('{"from":"system","value":', "},"),
    "messages": ('{"role":"system","content":', "},"),
    "prompt_completion": ('{"role":"system","content":', "},"),
}
CHAT_FORMATS: tuple[str, ...] = tuple(_SYSTEM_TURNS)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def line_sql(template: str, system_sql: str = "''") -> str:
    """SQL that renders one JSON line from a template: literals quoted, $NAME as its expression.

    `system_sql` (SQL giving JSON text) replaces %SYSTEM% after the split on "$", so a "$" in it stays text.
    """
    parts = []
    for n, piece in enumerate(template.split("$")):
        if n:
            name = max((key for key in _EXPRESSIONS if piece.startswith(key)), key=len)
            parts.append(_EXPRESSIONS[name])
            piece = piece[len(name) :]
        for m, text in enumerate(piece.split(SYSTEM_SLOT)):
            if m:
                parts.append(system_sql)
            if text:
                parts.append(_literal(text))
    return " || ".join([*parts, "chr(10)"])


def _system_sql(fmt: str, system_prompt: str | None) -> str:
    """The system turn: the record's own system prompt, else `system_prompt` (a snapshot's), else none."""
    before, after = _SYSTEM_TURNS[fmt]
    fallback = "" if system_prompt is None else before + msgspec.json.encode(system_prompt).decode() + after
    return (
        f"CASE WHEN v.system IS NULL THEN {_literal(fallback)} "
        f"ELSE {_literal(before)} || to_json(v.system) || {_literal(after)} END"
    )


def format_line_sql(fmt: str, system_prompt: str | None = None) -> str:
    """The line SQL of a format, with `system_prompt` as the system turn of the records without their own."""
    if system_prompt is None:
        return LINE_SQL[fmt]
    if fmt not in _SYSTEM_TURNS:
        raise ValueError(f"the {fmt!r} format has no system turn")
    return line_sql(_TEMPLATES[fmt], _system_sql(fmt, system_prompt))


LINE_SQL = {
    name: line_sql(template, _system_sql(name, None) if name in _SYSTEM_TURNS else "''")
    for name, template in _TEMPLATES.items()
}

# Page boundaries: the last task id of each run of about `page_chars` characters of text (a chat's turns included).
_PAGE_ENDS = f"""
    SELECT max(id) FROM (
        SELECT id, sum(text_chars + coalesce(chat_chars, 0)) OVER (ORDER BY id ROWS UNBOUNDED PRECEDING) // ? AS page
        FROM tasks LEFT JOIN (
            SELECT task_id, list_sum(list_transform(later, lambda x: length(x.content))) AS chat_chars
            FROM {CHATS} WHERE dataset_id = ?
        ) ON task_id = id
        WHERE dataset_id = ? AND id <= ? {{filters}}
    ) GROUP BY page ORDER BY 1
"""
_PAGE_LINES = f"""
    SELECT {{line}} AS line FROM tasks t JOIN instances i ON i.task_id = t.id
    LEFT JOIN {CHATS} v ON v.task_id = t.id AND v.dataset_id = t.dataset_id
    WHERE t.dataset_id = ? AND i.dataset_id = ? AND t.id > ? AND t.id <= ? AND i.task_id > ? AND i.task_id <= ?
    {{filters}}
    ORDER BY t.id, i.position
"""
# Lines (one per instance: tasks with no answer have none) whose chat has more than one exchange.
_MULTI_TURN_LINES = f"""
    SELECT count(*) FROM tasks t JOIN instances i ON i.task_id = t.id AND i.dataset_id = t.dataset_id
    JOIN {CHATS} v ON v.task_id = t.id AND v.dataset_id = t.dataset_id
    WHERE t.dataset_id = ? AND t.id <= ? AND {MULTI_TURN} {{filters}}
"""
# U+2028/U+2029 are valid raw inside JSON strings, but line splitters such as Python's str.splitlines
# break on them; escaped, every consumer sees one record per "\n". They only occur inside strings.
_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


class ExportStream(Iterator[bytes]):
    """The chunks of an export, and what was known before the first: how many chats the format cut."""

    def __init__(self, chunks: Iterator[bytes], conversations_cut: int) -> None:
        self._chunks = chunks
        self.conversations_cut = conversations_cut  # multi-turn records cut to their first exchange (alpaca)

    def __next__(self) -> bytes:
        return next(self._chunks)

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def open_export(
    store: Store,
    dataset_id: str,
    export_format: ExportFormat,
    record_filter: RecordFilter,
    *,
    page_chars: int = 8_000_000,
) -> ExportStream:
    """Check the request, plan the pages and count the cut chats now (errors surface before streaming).

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
            row[0]
            for row in cur.execute(
                page_ends_sql, [page_chars, dataset_id, dataset_id, last_id[0][0], *params]
            ).fetchall()
        ]
        cut = 0
        if export_format not in CHAT_FORMATS:
            t_filters, t_params = filter_clause(record_filter, alias="t")
            count_sql = _MULTI_TURN_LINES.format(filters=t_filters)
            cut = cur.execute(count_sql, [dataset_id, last_id[0][0], *t_params]).fetchall()[0][0]
    chunks = _export_chunks(store, dataset_id, LINE_SQL[export_format], record_filter, page_ends)
    return ExportStream(chunks, cut)


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
