"""The files of a snapshot: JSONL splits rendered by DuckDB, code tests, LLaMA-Factory entry, data card."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb
import msgspec
import pyarrow as pa

from store.export import CHAT_FORMATS, CHATS, MULTI_TURN, concatenated_lines, format_line_sql

_CHUNK_TASKS = 20_000
_LINES = f"""
    SELECT {{line}} AS line FROM tasks t JOIN instances i ON i.task_id = t.id AND i.dataset_id = t.dataset_id
    LEFT JOIN {CHATS} v ON v.task_id = t.id AND v.dataset_id = t.dataset_id
    WHERE t.dataset_id = ? AND t.id IN (SELECT task_id FROM snapshot_chunk)
    ORDER BY t.id, i.position
"""
# Per split: the lines, those whose chat has more than one exchange, and the user and assistant turns of the lines as
# the chat formats render them (a first exchange, then the chat's later turns).
_CHAT_COUNTS = f"""
    SELECT s.split, count(*), count(*) FILTER (WHERE {MULTI_TURN}), coalesce(sum(2 + coalesce(len(v.later), 0)), 0)
    FROM snapshot_sides s JOIN tasks t ON t.id = s.task_id AND t.dataset_id = ?
    JOIN instances i ON i.task_id = t.id AND i.dataset_id = t.dataset_id
    LEFT JOIN {CHATS} v ON v.task_id = t.id AND v.dataset_id = t.dataset_id
    GROUP BY s.split
"""
_CODE_TESTS = """
    SELECT c.task_id, t.instruction, c.entry_point, c.solution, c.tests FROM code_checks c
    JOIN tasks t ON t.id = c.task_id AND t.dataset_id = c.dataset_id
    WHERE c.dataset_id = ? AND c.status = 'passed' AND c.task_id IN (SELECT task_id FROM snapshot_chunk)
    ORDER BY c.task_id
"""


class FileEntry(msgspec.Struct, frozen=True, kw_only=True):
    sha256: str
    records: int
    bytes: int


def _chunks(ids: list[int]) -> list[pa.Table]:
    return [
        pa.table({"task_id": pa.array(ids[n : n + _CHUNK_TASKS], pa.int64())}) for n in range(0, len(ids), _CHUNK_TASKS)
    ]


def write_split(
    cur: duckdb.DuckDBPyConnection, dataset_id: str, fmt: str, ids: list[int], path: Path, system_prompt: str | None
) -> FileEntry:
    """One JSONL line per instance of the given tasks, in id order; hashed while written."""
    digest, records, size = hashlib.sha256(), 0, 0
    sql = _LINES.format(line=format_line_sql(fmt, system_prompt))
    with path.open("wb") as out:
        for chunk in _chunks(ids):
            cur.register("snapshot_chunk", chunk)
            table = cur.sql(sql, params=[dataset_id]).to_arrow_table()
            cur.unregister("snapshot_chunk")
            records += table.num_rows
            for column_chunk in table.column("line").chunks:
                data = concatenated_lines(column_chunk)
                digest.update(data)
                size += len(data)
                out.write(data)
    return FileEntry(sha256=digest.hexdigest(), records=records, bytes=size)


class ChatCounts(msgspec.Struct, frozen=True, kw_only=True):
    multi_turn_records: int  # lines whose chat has more than one exchange
    turns: int  # user and assistant turns in the file (the Alpaca format: 2 a line, its one exchange)
    conversations_cut_to_first_exchange: int  # multi-turn lines the format cut to their first exchange (alpaca)


def chat_counts(
    cur: duckdb.DuckDBPyConnection, dataset_id: str, fmt: str, sides: dict[int, str], splits: tuple[str, ...]
) -> dict[str, ChatCounts]:
    """The multi-turn records and the turns of each split's file."""
    ids = sorted(sides)
    cur.register("snapshot_sides", pa.table({"task_id": pa.array(ids, pa.int64()),
                                             "split": pa.array([sides[t] for t in ids], pa.string())}))  # fmt: skip
    rows = {row[0]: row[1:] for row in cur.execute(_CHAT_COUNTS, [dataset_id]).fetchall()}
    cur.unregister("snapshot_sides")
    chat, counts = fmt in CHAT_FORMATS, {}
    for split in splits:
        lines, multi, turns = rows.get(split, (0, 0, 0))
        counts[split] = ChatCounts(multi_turn_records=multi, turns=turns if chat else 2 * lines,
                                   conversations_cut_to_first_exchange=0 if chat else multi)  # fmt: skip
    return counts


def write_code_tests(
    cur: duckdb.DuckDBPyConnection, dataset_id: str, sides: dict[int, str], path: Path
) -> FileEntry | None:
    """The tests of every code task in the snapshot (for pass@k), or None when it holds no code task."""
    lines = []
    for chunk in _chunks(sorted(sides)):
        cur.register("snapshot_chunk", chunk)
        rows = cur.execute(_CODE_TESTS, [dataset_id]).fetchall()
        cur.unregister("snapshot_chunk")
        for task_id, instruction, entry_point, solution, tests in rows:
            record = {
                "split": sides[task_id], "task_id": task_id, "instruction": instruction, "input": "",
                "solution": solution, "tests": msgspec.json.decode(tests), "entry_point": entry_point,
            }  # fmt: skip
            lines.append(msgspec.json.encode(record) + b"\n")
    if not lines:
        return None
    data = b"".join(lines)
    path.write_bytes(data)
    return FileEntry(sha256=hashlib.sha256(data).hexdigest(), records=len(lines), bytes=len(data))


def content_sha256(files: dict[str, FileEntry]) -> str:
    """One hash over the data files' hashes: equal snapshots have equal content hashes."""
    text = "".join(f"{name}:{entry.sha256}\n" for name, entry in sorted(files.items()))
    return hashlib.sha256(text.encode()).hexdigest()


# LLaMA-Factory's dataset_info.json columns for each format it reads; prompt_completion has no mapping. Given
# `tags`, LLaMA-Factory (0.9.5, data/parser.py) sets every tag not named to None, so `system_tag` is named: else
# it drops each record that opens with a system turn ("Invalid role tag").
_LLAMA_FACTORY: dict[str, dict[str, Any]] = {
    "alpaca": {"columns": {"prompt": "instruction", "query": "input", "response": "output"}},
    "sharegpt": {
        "formatting": "sharegpt",
        "columns": {"messages": "conversations"},
        "tags": {
            "role_tag": "from",
            "content_tag": "value",
            "user_tag": "human",
            "assistant_tag": "gpt",
            "system_tag": "system",
        },
    },
    "messages": {
        "formatting": "sharegpt",
        "columns": {"messages": "messages"},
        "tags": {
            "role_tag": "role",
            "content_tag": "content",
            "user_tag": "user",
            "assistant_tag": "assistant",
            "system_tag": "system",
        },
    },
}


def llama_factory_info(name: str, fmt: str, splits: list[str]) -> dict[str, Any]:
    """`dataset_info.json` entries, one per split (`<name>_train`, ...); empty for prompt_completion."""
    if fmt not in _LLAMA_FACTORY:
        return {}
    return {f"{name}_{split}": {"file_name": f"{split}.jsonl", **_LLAMA_FACTORY[fmt]} for split in splits}
