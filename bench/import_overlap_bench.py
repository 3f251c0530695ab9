"""How well an import's overlap report finds another source's records: planted paraphrases across two files.

The shared corpus generator (`../shared/bench/make_instruction_corpus.py`) writes instructions of which 15% are
paraphrases (1-3 edits) of an earlier base instruction. The first half of the corpus becomes source `a`, the
second half source `b`; a `b` record is a planted cross-source duplicate when it paraphrases (or repeats) a base
record of `a`. Both are imported in-process into one dataset on a real DuckDB file (near_duplicates=skip), and
the bench prints the overlap `b`'s import reports against `a`, the planted count, how many planted ones were
found, and the rows/s of each import. Template collisions between base records are real near-duplicates too,
so found can exceed planted: the recall of planted pairs is the figure to read.

    python bench/import_overlap_bench.py [--records 20000] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from domain.imports import ImportSpec  # noqa: E402
from store import Store  # noqa: E402
from store.datasets import create_dataset  # noqa: E402
from store.dedup.screen import open_screen  # noqa: E402
from store.ingest.imports import ImportLimits, import_file  # noqa: E402

CORPUS_SCRIPT = REPO.parent / "shared" / "bench" / "make_instruction_corpus.py"


def corpus(count: int, seed: int, out: Path) -> list[dict]:
    subprocess.run([sys.executable, str(CORPUS_SCRIPT), str(count), str(out), "--seed", str(seed)], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return [json.loads(line) for line in out.read_text().splitlines()]


def write_source(rows: list[dict], path: Path) -> Path:
    path.write_text("".join(json.dumps({"instruction": r["text"], "output": f"An answer to record {r['id']}.",
                                        "record": r["id"]}) + "\n" for r in rows))  # fmt: skip
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="overlap-bench-") as work:
        rows = corpus(args.records, args.seed, Path(work) / "corpus.jsonl")
        half = len(rows) // 2
        first, second = rows[:half], rows[half:]
        in_first = {r["id"] for r in first}
        planted = {r["id"] for r in second if r["kind"] == "para" and r["src"] in in_first}
        store = Store.open(Path(work) / "bench.duckdb")
        try:
            dataset = create_dataset(store, name="overlap").id
            reports = [
                import_file(store, dataset, write_source(part, Path(work) / f"{name}.jsonl"),
                            ImportSpec(source=name), ImportLimits(), screen=lambda: open_screen(store, dataset))
                for name, part in (("a", first), ("b", second))
            ]  # fmt: skip
            with store.read() as cur:
                left_out = dict(cur.execute(
                    "SELECT CAST(json_extract(detail, '$.metadata.record') AS BIGINT),"
                    " json_extract_string(detail, '$.match_source') FROM rejections"
                    " WHERE stage = 'import' AND json_extract_string(detail, '$.import') = ?",
                    [reports[1].import_id]).fetchall())  # fmt: skip
            found = {record for record, source in left_out.items() if source == "a"}
        finally:
            store.close()
    for report in reports:
        print(f"import {report.source}: {report.rows:,} rows, {report.added:,} added, {report.exact_duplicates:,}"
              f" exact and {report.near_duplicates:,} near-duplicates left out, {report.rows_per_second:,.0f} rows/s")
    print("overlap of b:", "; ".join(o.summary for o in reports[1].overlap))
    hit, anywhere = len(planted & found), len(planted & set(left_out))
    print(f"planted cross-source paraphrases in b: {len(planted):,}; found among b's duplicates of a: {hit:,}"
          f" (recall {hit / max(len(planted), 1):.3f}); other b rows reported as duplicating a:"
          f" {len(found - planted):,}; planted ones left out as a duplicate of anything (a, or an earlier b row):"
          f" {anywhere:,} ({anywhere / max(len(planted), 1):.3f})")


if __name__ == "__main__":
    main()
