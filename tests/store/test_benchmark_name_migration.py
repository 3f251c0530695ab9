from __future__ import annotations

from pathlib import Path

import duckdb

from store import Store
from store.contamination.benchmarks import delete_benchmark, get_benchmark, list_benchmarks
from store.migrations import MIGRATIONS, apply_migrations


def test_benchmarks_registered_under_unusable_names_are_renamed_and_reachable(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = duckdb.connect(str(path))
    apply_migrations(con, tuple(m for m in MIGRATIONS if m.name != "valid_benchmark_names"))
    for name in ("a/b", "x\u202e", "humaneval"):
        con.execute(
            "INSERT INTO benchmarks (name, ngram, min_substring_chars, hash_version, records, texts, ngrams,"
            " substring_texts) VALUES (?, 13, 50, 1, 1, 1, 0, 0)",
            [name],
        )
    con.close()
    store = Store.open(path)
    names = [b.name for b in list_benchmarks(store)]
    assert names == ["humaneval", "renamed-benchmark-1", "renamed-benchmark-2"]
    for name in names:
        assert get_benchmark(store, name).name == name
        delete_benchmark(store, name)
    assert list_benchmarks(store) == ()
    store.close()
