"""The import use case on a real DuckDB file: files in each shape in, overlap, all or nothing, crash settling."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from domain.errors import InvalidInputError
from domain.imports import FieldMapping, ImportSpec
from store import Store
from store.contamination.benchmarks import register_benchmark
from store.dedup.screen import open_screen
from store.export import open_export
from store.imports import StagedRow, begin_import, get_import, list_imports, settle_imports, stage_rows
from store.ingest.imports import ImportLimits, ImportReport, import_file, new_import_id
from store.records import RecordFilter
from store.tasks import add_tasks, page_tasks
from tests.store.conftest import task

LIMITS = ImportLimits(chunk_rows=7)  # several chunks even for small files


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def run_import(store: Store, dataset_id: str, path: Path, **spec: object) -> ImportReport:
    return import_file(store, dataset_id, path, ImportSpec(**spec), LIMITS,  # type: ignore[arg-type]
                       screen=lambda: open_screen(store, dataset_id))  # fmt: skip


def counts(store: Store, sql: str, params: list) -> int:
    with store.read() as cur:
        return cur.execute(sql, params).fetchall()[0][0]


INSTRUCTIONS = [
    "Describe the habitat of the zebra in two sentences.",
    "Give three tips for staying healthy.",
    "Translate the sentence into French.",
    "Explain why the sky looks blue during the day.",
    "Write a haiku about autumn leaves falling.",
    "Convert 25 degrees Celsius to Fahrenheit.",
    "Summarize the plot of Romeo and Juliet in one paragraph.",
    "List the planets of the solar system in order from the sun.",
    "Suggest a name for a bakery that sells only sourdough bread.",
    "Classify the following animal as a mammal, bird or fish.",
    "Compose a polite email declining a meeting invitation.",
    "Identify the main verb in the given sentence.",
]


def alpaca_rows() -> list[dict]:
    return [{"instruction": text, "input": "", "output": f"Answer {n}."} for n, text in enumerate(INSTRUCTIONS)]


def test_an_alpaca_file_lands_with_its_source_and_the_import_is_recorded(store: Store, dataset_id: str,
                                                                          tmp_path: Path) -> None:  # fmt: skip
    report = run_import(store, dataset_id, write_jsonl(tmp_path / "a.jsonl", alpaca_rows()), source="alpaca",
                        license="CC-BY-NC-4.0", url="https://example.org/alpaca")  # fmt: skip
    assert (report.layout, report.file_format, report.rows, report.added) == ("alpaca", "jsonl", 12, 12)
    assert (report.exact_duplicates, report.near_duplicates, report.unanswered, report.overlap) == (0, 0, 0, [])
    page = page_tasks(store, dataset_id, RecordFilter(source="alpaca"), after=0, limit=100)
    assert [t.instruction for t in page.items] == [r["instruction"] for r in alpaca_rows()]
    assert {t.provenance["import"] for t in page.items} == {report.import_id}
    assert page.items[0].provenance["line"] == 1
    recorded = get_import(store, dataset_id, report.import_id)
    assert (recorded.status, recorded.rows, recorded.added, recorded.license) == ("succeeded", 12, 12, "CC-BY-NC-4.0")
    assert recorded.url == "https://example.org/alpaca" and recorded.report["added"] == 12
    assert counts(store, "SELECT count(*) FROM import_staged_tasks", []) == 0


def test_a_bad_line_in_the_middle_adds_nothing_and_names_every_bad_line(store: Store, dataset_id: str,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    lines = [json.dumps(row) for row in alpaca_rows()]
    lines[4] = "{not json"
    lines[9] = json.dumps({"instruction": "", "output": "x"})
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InvalidInputError) as caught:
        run_import(store, dataset_id, path, source="alpaca", layout="alpaca")
    assert caught.value.code == "invalid_upload"
    assert [e["line"] for e in caught.value.extra["errors"]] == [5, 10]
    assert counts(store, "SELECT count(*) FROM tasks", []) == 0
    assert counts(store, "SELECT count(*) FROM import_staged_tasks", []) == 0
    (failed,) = list_imports(store, dataset_id)
    assert failed.status == "failed" and failed.report["error_count"] == 2


def test_two_overlapping_sources_report_the_overlap_with_each(store: Store, dataset_id: str, tmp_path: Path) -> None:
    add_tasks(store, dataset_id, [task("Tell me a joke about penguins and ice.")], source="seed", stage="test")
    run_import(store, dataset_id, write_jsonl(tmp_path / "a.jsonl", alpaca_rows()), source="alpaca")
    dolly = [
        *({"instruction": r["instruction"], "context": "", "response": "Same.", "category": "open_qa"}
          for r in alpaca_rows()[1:4]),  # 3 word-for-word copies of alpaca rows
        {"instruction": "Describe the habitat of the zebra in two short sentences.", "context": "",
         "response": "Savanna.", "category": "open_qa"},  # a near copy
        {"instruction": "Tell me a joke about penguins and ice.", "context": "", "response": "Cold one.",
         "category": "open_qa"},  # the seed's
        *({"instruction": text, "context": "", "response": "One.", "category": "brainstorming"} for text in (
            "Name a famous bridge and say why it matters.", "How do vaccines train the immune system?",
            "What should I pack for a week of hiking in the Alps?", "Who painted the ceiling of the Sistine Chapel?")),
        {"instruction": "Name a famous bridge and say why it matters.", "context": "", "response": "Again.",
         "category": "brainstorming"},  # a repeat of an earlier row of the same file
    ]  # fmt: skip
    report = run_import(store, dataset_id, write_jsonl(tmp_path / "d.jsonl", dolly), source="dolly",
                        license="CC-BY-SA-3.0")  # fmt: skip
    assert report.layout == "dolly" and report.rows == 10
    overlap = {o.source: (o.exact, o.near) for o in report.overlap}
    assert overlap == {"alpaca": (3, 1), "seed": (1, 0), "dolly": (1, 0)}
    assert report.added == 4 and report.exact_duplicates == 5 and report.near_duplicates == 1
    assert any(o.summary.startswith("4 of 10 records duplicate alpaca") for o in report.overlap)
    with store.read() as cur:
        reasons = cur.execute("SELECT reason, json_extract_string(detail, '$.match_source') FROM rejections"
                              " WHERE stage = 'import' ORDER BY ALL").fetchall()  # fmt: skip
    assert reasons == [("exact_duplicate", "alpaca")] * 3 + [("exact_duplicate", "dolly"),
                                                             ("exact_duplicate", "seed"), ("near_duplicate", "alpaca")]


def test_near_duplicates_kept_on_request_are_added_and_still_counted(store: Store, dataset_id: str,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    rows = alpaca_rows()[:3] + [{"instruction": "Describe the habitat of the zebra in two short sentences.",
                                 "output": "Grass."}]  # fmt: skip
    report = run_import(store, dataset_id, write_jsonl(tmp_path / "a.jsonl", rows), source="alpaca",
                        near_duplicates="keep")  # fmt: skip
    assert (report.added, report.near_duplicates) == (4, 1)
    assert report.overlap[0].source == "alpaca" and report.overlap[0].near == 1


def test_instruction_only_rows_are_added_unanswered_and_in_no_export(store: Store, dataset_id: str,
                                                                      tmp_path: Path) -> None:  # fmt: skip
    rows = [{"question": text} for text in INSTRUCTIONS[:5]]
    report = run_import(store, dataset_id, write_jsonl(tmp_path / "q.jsonl", rows), source="quiz",
                        mapping=FieldMapping(instruction="question"))  # fmt: skip
    assert (report.layout, report.added, report.unanswered) == ("mapping", 5, 5)
    exported = b"".join(open_export(store, dataset_id, "alpaca", RecordFilter()))
    assert exported == b""


def test_a_multi_turn_sharegpt_file_keeps_its_chats(store: Store, dataset_id: str, tmp_path: Path) -> None:
    chat = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi, who are you?"},
                              {"from": "gpt", "value": "An assistant."}, {"from": "human", "value": "Name a fruit."},
                              {"from": "gpt", "value": "Apple."}]}  # fmt: skip
    single = {"conversations": [{"from": "human", "value": "Say hello."}, {"from": "gpt", "value": "Hello."}]}
    report = run_import(store, dataset_id, write_jsonl(tmp_path / "s.jsonl", [chat, single]), source="sharegpt")
    assert (report.layout, report.added, report.conversations) == ("sharegpt", 2, 1)
    items = page_tasks(store, dataset_id, RecordFilter(), after=0, limit=10).items
    first = next(t for t in items if t.instruction == "Hi, who are you?")
    assert first.instances[0].output == "An assistant."
    assert first.conversation is not None and first.conversation.system == "Be brief."
    assert [t.content for t in first.conversation.turns] == ["Hi, who are you?", "An assistant.", "Name a fruit.",
                                                             "Apple."]  # fmt: skip


def test_a_parquet_file_imports_like_json_lines(store: Store, dataset_id: str, tmp_path: Path) -> None:
    pq.write_table(pa.Table.from_pylist(alpaca_rows()), tmp_path / "a.parquet")
    report = run_import(store, dataset_id, tmp_path / "a.parquet", source="alpaca")
    assert (report.file_format, report.layout, report.added) == ("parquet", "alpaca", 12)


def test_imported_records_are_checked_against_the_registered_benchmarks(store: Store, dataset_id: str,
                                                                         tmp_path: Path) -> None:  # fmt: skip
    leaked = "Write a function that returns the sum of the squares of the odd numbers in a list of integers."
    register_benchmark(store, "leaky", json.dumps({"prompt": leaked}).encode() + b"\n")
    rows = alpaca_rows()[:3] + [{"instruction": leaked, "output": "def f(xs): ..."}]
    report = run_import(store, dataset_id, write_jsonl(tmp_path / "a.jsonl", rows), source="alpaca")
    assert (report.contaminated, report.contamination) == (1, {"leaky": 1})


def test_an_import_cut_short_by_a_crash_is_settled_at_start_up(store: Store, dataset_id: str, tmp_path: Path) -> None:
    from store.imports import ImportRecord

    import_id = new_import_id()
    begin_import(store, ImportRecord(id=import_id, dataset_id=dataset_id, source="alpaca", license="MIT", url=None,
                                     layout="alpaca", file_format="jsonl", options={}, status="staging", progress={},
                                     rows=0, added=0, bytes=10, report=None, error=None, created_at=None,  # type: ignore[arg-type]
                                     finished_at=None))  # fmt: skip
    stage_rows(store, import_id, [StagedRow(1, task("Staged but never moved."))])
    (tmp_path / "imports").mkdir()
    (tmp_path / "imports" / "upload-x.part").write_bytes(b"half")
    assert settle_imports(store, tmp_path / "imports") == 1
    assert get_import(store, dataset_id, import_id).status == "failed"
    assert counts(store, "SELECT count(*) FROM import_staged_tasks", []) == 0
    assert counts(store, "SELECT count(*) FROM tasks", []) == 0
    assert not list((tmp_path / "imports").iterdir())


def test_a_running_import_shows_its_progress(store: Store, dataset_id: str, tmp_path: Path) -> None:
    """Mid-file (after two chunks of 7 rows were staged) the import is `staging` with the rows read so far."""
    seen = []

    class Watching:
        def __init__(self) -> None:
            self.inner, self.calls = open_screen(store, dataset_id), 0

        def check(self, text: str):
            self.calls += 1
            if self.calls == 15:
                (running,) = list_imports(store, dataset_id)
                seen.append((running.status, running.progress, running.layout))
            return self.inner.check(text)

        def remember(self, text: str) -> None:
            self.inner.remember(text)

    report = import_file(store, dataset_id, write_jsonl(tmp_path / "a.jsonl", alpaca_rows() * 2), ImportSpec(
        source="alpaca", near_duplicates="keep"), LIMITS, screen=Watching)  # fmt: skip
    assert seen == [("staging", {"phase": "reading", "rows": 14}, "alpaca")]
    assert report.rows == 24 and report.added == 12 and report.exact_duplicates == 12
    assert get_import(store, dataset_id, report.import_id).progress == {"phase": "done", "rows": 24}
