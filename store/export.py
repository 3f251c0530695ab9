"""Streamed JSON Lines exports in the formats trainers read.

DuckDB renders every line (`to_json`) and joins a page of them into one string, so Python only moves
a few megabytes per page: constant memory whatever the dataset's size, and no per-row Python work.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from store.database import Store
from store.datasets import require_dataset
from store.records import RecordFilter
from store.tasks import filter_clause

ExportFormat = Literal["alpaca", "sharegpt", "messages", "prompt_completion"]

# The user turn: the instruction, then the input (if any) after a blank line, as Alpaca's trainers do.
_PROMPT = "CASE WHEN i.input = '' THEN t.instruction ELSE t.instruction || chr(10) || chr(10) || i.input END"

LINE_SQL: dict[str, str] = {
    "alpaca": "to_json({'instruction': t.instruction, 'input': i.input, 'output': i.output})",
    "sharegpt": f"to_json({{'conversations': [{{'from': 'human', 'value': {_PROMPT}}},"
    " {'from': 'gpt', 'value': i.output}]})",
    "messages": f"to_json({{'messages': [{{'role': 'user', 'content': {_PROMPT}}},"
    " {'role': 'assistant', 'content': i.output}]})",
    # TRL's conversational prompt/completion: the loss falls on the completion only.
    "prompt_completion": f"to_json({{'prompt': [{{'role': 'user', 'content': {_PROMPT}}}],"
    " 'completion': [{'role': 'assistant', 'content': i.output}]})",
}
EXPORT_FORMATS: tuple[str, ...] = tuple(LINE_SQL)

# U+2028/U+2029 are valid raw inside JSON strings, but line splitters such as Python's str.splitlines
# break on them; escaped, every consumer sees one record per "\n". They can only occur inside strings.
_SAFE_LINE = "replace(replace({json}, chr(8232), '\\u2028'), chr(8233), '\\u2029')"

_PAGE_END = """
    SELECT max(id) FROM (
        SELECT id FROM tasks WHERE dataset_id = ? AND id > ? AND id <= ? {filters} ORDER BY id LIMIT ?
    )
"""
_PAGE_LINES = """
    SELECT string_agg(line, '' ORDER BY task_id, position) FROM (
        SELECT {line} || chr(10) AS line, t.id AS task_id, i.position
        FROM tasks t JOIN instances i ON i.task_id = t.id
        WHERE t.dataset_id = ? AND i.dataset_id = ? AND t.id > ? AND t.id <= ? AND i.task_id > ? AND i.task_id <= ?
        {filters}
    )
"""


def open_export(
    store: Store, dataset_id: str, export_format: ExportFormat, record_filter: RecordFilter, *, page_tasks: int = 10_000
) -> Iterator[bytes]:
    """Check the request now (so errors surface before streaming), then return the chunk iterator.

    The export covers the tasks present when it was opened: later arrivals have larger ids.
    """
    if export_format not in LINE_SQL:
        raise ValueError(f"unknown export format {export_format!r}")
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        last_id = cur.execute("SELECT coalesce(max(id), 0) FROM tasks WHERE dataset_id = ?", [dataset_id]).fetchall()[
            0
        ][0]
    return _export_chunks(store, dataset_id, LINE_SQL[export_format], record_filter, last_id, page_tasks)


def _export_chunks(
    store: Store, dataset_id: str, line_sql: str, record_filter: RecordFilter, last_id: int, page_tasks: int
) -> Iterator[bytes]:
    task_filters, params = filter_clause(record_filter)
    line_filters, _ = filter_clause(record_filter, alias="t")
    page_end_sql = _PAGE_END.format(filters=task_filters)
    lines_sql = _PAGE_LINES.format(line=_SAFE_LINE.format(json=line_sql), filters=line_filters)
    after = 0
    with store.read() as cur:
        while True:
            end = cur.execute(page_end_sql, [dataset_id, after, last_id, *params, page_tasks]).fetchall()[0][0]
            if end is None:
                return
            text = cur.execute(lines_sql, [dataset_id, dataset_id, after, end, after, end, *params]).fetchall()[0][0]
            if text:
                yield text.encode()
            after = end
