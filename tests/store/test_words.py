"""A task's stored word count (`tasks.instruction_words`): one definition, every path that writes tasks, and the
migration that counts the tasks stored before it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import duckdb
import pyarrow as pa

from domain.imports import ImportSpec
from domain.records import NewTask
from store import Store
from store.balance.report import balance_report
from store.dedup.screen import open_screen
from store.ingest.imports import ImportLimits, import_file
from store.migrations import MIGRATIONS, apply_migrations
from store.tasks import add_tasks
from store.words import instruction_words, word_counts, words_sql
from tests.store.conftest import task

# Python's str.split() and RE2's \S disagree on \v, \x1c-\x1f and the Unicode spaces: the cases that matter.
ODD = ["", "   ", "one", " x  y ", "a\vb", "a\x1cb c", "a\xa0b", "\u2003a b", "tab\there\nnew\rline\fend", "é è"]


def sql_counts(texts: list[str]) -> list[int]:
    with duckdb.connect() as con:
        rows = con.execute(
            f"SELECT {words_sql('s')} FROM (SELECT unnest(?) AS s, generate_subscripts(?, 1) AS n) ORDER BY n",
            [texts, texts],
        ).fetchall()
    return [row[0] for row in rows]


def test_python_and_sql_count_the_same_words() -> None:
    rng = random.Random(7)
    alphabet = "ab \t\n\v\f\r\x1c\x1d\x1e\x1f\x85\xa0\u1680\u2000\u2028\u3000é"
    fuzz = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    plain = ["Write a short poem about the sea.", "  two   words ", "Name\tthree\nrivers."]
    for texts in (ODD, fuzz, plain, ["x"], []):
        assert word_counts(pa.array(texts, pa.string())).to_pylist() == [instruction_words(t) for t in texts]
        assert [instruction_words(t) for t in texts] == sql_counts(texts)
    assert [instruction_words(t) for t in ODD] == [0, 0, 1, 2, 1, 2, 1, 2, 5, 2]
    sliced = pa.array(["a b", *plain, " c "], pa.large_string()).slice(1, 3)  # offsets past 0, 64-bit offsets
    assert word_counts(sliced).to_pylist() == [7, 2, 3]


def stored_words(store: Store) -> dict[str, int]:
    with store.read() as cur:
        return dict(cur.execute("SELECT instruction, instruction_words FROM tasks").fetchall())


def test_add_tasks_and_an_import_store_the_count(store: Store, dataset_id: str, tmp_path: Path) -> None:
    add_tasks(store, dataset_id, [task(f"#{n} {text}") for n, text in enumerate(ODD)], source="seed", stage="test")
    rows = [{"instruction": f"import {text} line", "input": "", "output": "ok"} for text in ("a\vb", "x  y")]
    path = tmp_path / "rows.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    import_file(store, dataset_id, path, ImportSpec(source="alpaca", license="MIT"), ImportLimits(),
                screen=lambda: open_screen(store, dataset_id))  # fmt: skip
    words = stored_words(store)
    assert len(words) == len(ODD) + 2
    assert words == dict(zip(words, sql_counts(list(words)), strict=True))
    assert words["import a\vb line"] == 3 and words["import x  y line"] == 4


def test_tasks_stored_before_migration_11_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, tuple(m for m in MIGRATIONS if m.version < 11))
    con.execute("INSERT INTO datasets (id, name) VALUES ('ds_1', 'old')")
    for n, text in enumerate(["Name a color.", "a\vb c", " " + "word " * 45, "one two three four five six"]):
        con.execute("""INSERT INTO tasks (id, dataset_id, instruction, fingerprint, is_classification, category,
                       source, provenance, instruction_chars, text_chars) VALUES (?, 'ds_1', ?, ?, false, 'c',
                       'seed', '{}', ?, 0)""", [n + 1, text, n, len(text)])  # fmt: skip
    con.close()
    store = Store.open(path)
    try:
        assert sorted(stored_words(store).values()) == [2, 3, 6, 45]
        bands = balance_report(store, "ds_1").dimensions["instruction_length"].counts
        assert bands == {"1-5 words": 2, "6-10 words": 1, "11-20 words": 0, "21-40 words": 0, "41+ words": 1}
        add_tasks(store, "ds_1", [NewTask(instruction="After the migration.", instances=())], source="seed",
                  stage="test")  # fmt: skip
        assert stored_words(store)["After the migration."] == 3
    finally:
        store.close()
