"""The snapshot request's system prompt (rendered, recorded, validated) and the refusal of an empty selection."""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest

from domain.errors import ConflictError
from store import Store
from store.contamination.benchmarks import register_benchmark
from store.export import format_line_sql, line_sql
from store.snapshots.snapshot import SYSTEM_PROMPT_MAX_CHARS, SnapshotSpec, create_snapshot, list_snapshots
from store.tasks import add_tasks
from tests.store.conftest import task

# Characters that could break the SQL literal, the template's "$NAME" split, %-formatting, JSON or a line.
SYSTEM = 'Answer briefly. It\'s $PROMPT, 100% "plain" text;\nnew line, tab\t, line separator \u2028, emoji \U0001f600.'
PROMPT = "Add the two numbers.\n\n2 and 3"
EXPECTED = {
    "messages": {"messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT},
                              {"role": "assistant", "content": "5"}]},
    "sharegpt": {"conversations": [{"from": "system", "value": SYSTEM}, {"from": "human", "value": PROMPT},
                                   {"from": "gpt", "value": "5"}]},
    "prompt_completion": {"prompt": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": PROMPT}],
                          "completion": [{"role": "assistant", "content": "5"}]},
}  # fmt: skip


@pytest.mark.parametrize("fmt", sorted(EXPECTED))
def test_the_system_prompt_is_the_first_turn_and_is_recorded(store: Store, dataset_id: str, tmp_path: Path,
                                                             fmt: str) -> None:  # fmt: skip
    add_tasks(store, dataset_id, [task("Add the two numbers.", "5", input="2 and 3")], source="seed", stage="t")
    request = SnapshotSpec(format=fmt, system_prompt=SYSTEM)  # type: ignore[arg-type]
    snap = create_snapshot(store, dataset_id, request, tmp_path)
    data = (Path(snap.path) / "train.jsonl").read_bytes()
    assert data.count(b"\n") == 1 and "\u2028".encode() not in data  # one line, whatever the prompt holds
    assert json.loads(data) == EXPECTED[fmt]
    manifest = json.loads((Path(snap.path) / "manifest.json").read_text())
    assert manifest["spec"]["system_prompt"] == SYSTEM == snap.manifest["spec"]["system_prompt"]
    assert repr(SYSTEM) in (Path(snap.path) / "README.md").read_text()


def test_without_a_system_prompt_the_lines_are_the_exports() -> None:
    assert all(format_line_sql(fmt) == format_line_sql(fmt, None) for fmt in EXPECTED)
    # Without one, the only system turn is a record's own (a chat kept with its system prompt).
    assert "%SYSTEM%" not in format_line_sql("messages")
    assert 'CASE WHEN v.system IS NULL THEN \'\' ELSE \'{"from":"system","value":\' || to_json(v.system)' in (
        format_line_sql("sharegpt")
    )
    rendered = line_sql('{"a":[%SYSTEM%$OUTPUT]}', '\'{"s":"$x"},\'')
    assert rendered == "'{\"a\":[' || '{\"s\":\"$x\"},' || to_json(i.output) || ']}' || chr(10)"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"format": "alpaca", "system_prompt": "Be brief."}, "needs a chat format"),
        ({"format": "messages", "system_prompt": ""}, "length >= 1"),
        ({"format": "messages", "system_prompt": " \n\t"}, "must not be blank"),
        ({"format": "messages", "system_prompt": "x" * (SYSTEM_PROMPT_MAX_CHARS + 1)}, "length <= 4000"),
        ({"format": "messages", "system_prompt": 5}, "Expected `str | null`"),
        ({"format": "messages", "system_message": "Be brief."}, "unknown field"),
    ],
)
def test_bad_system_prompts_are_refused(body: dict, message: str) -> None:
    with pytest.raises(msgspec.ValidationError, match=message):
        msgspec.json.decode(msgspec.json.encode(body), type=SnapshotSpec)


def test_the_longest_system_prompt_is_taken() -> None:
    spec = SnapshotSpec(format="sharegpt", system_prompt="x" * SYSTEM_PROMPT_MAX_CHARS)
    assert msgspec.json.decode(msgspec.json.encode(spec), type=SnapshotSpec) == spec


def test_an_empty_dataset_is_refused_and_nothing_is_written(store: Store, dataset_id: str, tmp_path: Path) -> None:
    with pytest.raises(ConflictError, match="empty selection") as refused:
        create_snapshot(store, dataset_id, SnapshotSpec(), tmp_path / "snaps")
    assert refused.value.code == "empty_selection" and refused.value.extra["matched"] == 0
    assert list_snapshots(store, dataset_id) == [] and not (tmp_path / "snaps").exists()


def test_filters_that_match_nothing_are_refused(store: Store, dataset_id: str, tmp_path: Path) -> None:
    add_tasks(store, dataset_id, [task("Name a colour.", "Red.", category="words")], source="seed", stage="t")
    with pytest.raises(ConflictError) as refused:
        create_snapshot(store, dataset_id, SnapshotSpec(category="math"), tmp_path / "snaps")
    assert refused.value.code == "empty_selection" and "matches the filters" in refused.value.detail
    assert list_snapshots(store, dataset_id) == [] and not (tmp_path / "snaps").exists()


def test_a_selection_emptied_by_contamination_is_refused(store: Store, dataset_id: str, tmp_path: Path) -> None:
    text = "Name the largest planet of the solar system and say why it is the largest."
    add_tasks(store, dataset_id, [task(text, "Jupiter.")], source="seed", stage="t")
    register_benchmark(store, "bench", json.dumps({"question": text}).encode() + b"\n")
    with pytest.raises(ConflictError) as refused:
        create_snapshot(store, dataset_id, SnapshotSpec(), tmp_path / "snaps")
    assert refused.value.extra == {"matched": 1, "excluded_contaminated": 1, "format": "prompt_completion"}
    assert "contaminated" in refused.value.detail and list_snapshots(store, dataset_id) == []
    kept = create_snapshot(store, dataset_id, SnapshotSpec(exclude_contaminated=False), tmp_path / "snaps")
    assert kept.manifest["counts"]["train"]["tasks"] == 1
