"""Snapshots: immutable, numbered exports of a dataset, split for training, with a manifest.

Creating one selects the records (filters, verified code only, per-category caps, contaminated records
excluded), splits them (stratified by category, seeded, no near-duplicate across the split), renders the
files in a folder of their own, makes them read-only, and records the manifest. Nothing about a snapshot
changes afterwards: its files are never rewritten, and later changes to the dataset do not reach it.
"""

from __future__ import annotations

import secrets
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from domain.errors import ConflictError, NotFoundError
from domain.names import Name
from domain.quality import SCALE_MAX, SCALE_MIN
from domain.records import Source
from domain.redaction import REDACTED, redact_url
from domain.screening import NEAR_DUPLICATE_THRESHOLD
from store.balance.report import DEFAULT_SHARE_LIMIT, balance_report
from store.contamination.check import find_contamination
from store.database import Store
from store.datasets import get_dataset, require_dataset
from store.dedup.near_duplicates import NearDuplicateIndex
from store.export import CHAT_FORMATS, ExportFormat
from store.quality import SCORES
from store.records import RecordFilter
from store.snapshots.files import ChatCounts, FileEntry, chat_counts, content_sha256, write_code_tests, write_split
from store.snapshots.mix import MixRecipe, check_names, mix_manifest, mix_rows
from store.snapshots.publish import SPLITS, partial_folder, publish, sync_files
from store.snapshots.splits import SplitRow, cap_per_category, separate_near_duplicates, stratified_split, take_best
from store.sources import manifest_sources
from store.tasks import filter_clause

SYSTEM_PROMPT_MAX_CHARS = 4000  # a system prompt, not a document: it is repeated in every record


class SnapshotSpec(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    format: ExportFormat = "prompt_completion"
    source: Source | None = None
    category: Annotated[str, Meta(min_length=1, max_length=64)] | None = None
    is_classification: bool | None = None
    verified_only: bool = False  # only code tasks whose tests passed in the sandbox
    min_quality: Annotated[float, Meta(ge=SCALE_MIN, le=SCALE_MAX)] | None = None  # judge score at least this
    min_kill_rate: Annotated[float, Meta(ge=0, le=1)] | None = None  # code tasks: tests kill at least this share
    # Tasks that a job run with `quality.record_only` kept despite failing a model-free check are left out.
    exclude_flagged: bool = False
    # Tasks whose self-consistency agreement (provenance) is below this are left out; tasks not compared stay.
    min_agreement: Annotated[float, Meta(ge=0, le=1)] | None = None
    # At most this many tasks (after every filter and cap), the best by judge score or a seeded random choice.
    max_tasks: Annotated[int, Meta(ge=1, le=100_000_000)] | None = None
    rank_by: Literal["random", "quality"] = "random"
    validation_fraction: Annotated[float, Meta(ge=0, le=0.5)] = 0.1
    seed: Annotated[int, Meta(ge=0, le=2**31 - 1)] = 0
    per_category_cap: Annotated[int, Meta(ge=1, le=100_000_000)] | None = None
    exclude_contaminated: bool = True
    # None: every registered benchmark
    benchmarks: Annotated[list[Name], Meta(max_length=1000)] | None = None
    near_duplicate_threshold: Annotated[float, Meta(gt=0, le=1)] = NEAR_DUPLICATE_THRESHOLD
    balance_share_limit: Annotated[float, Meta(gt=0, le=1)] = DEFAULT_SHARE_LIMIT
    # The first turn of every conversation (chat formats only). Without it, chat templates that add a default
    # system prompt (SmolLM2's "You are a helpful AI assistant named SmolLM...") add theirs when training.
    system_prompt: Annotated[str, Meta(min_length=1, max_length=SYSTEM_PROMPT_MAX_CHARS)] | None = None
    # A mixing recipe: per-source and per-category weights or caps (`store.snapshots.mix`), after the filters.
    mix: MixRecipe | None = None

    def __post_init__(self) -> None:
        if self.benchmarks is not None and len(set(self.benchmarks)) != len(self.benchmarks):
            raise ValueError("benchmarks must not name a benchmark twice")
        if self.system_prompt is not None:
            if self.format not in CHAT_FORMATS:
                raise ValueError(f"system_prompt needs a chat format ({', '.join(CHAT_FORMATS)}), not {self.format}")
            if not self.system_prompt.strip():
                raise ValueError("system_prompt must not be blank")
        if self.mix is not None and self.mix.total is not None and self.max_tasks is not None:
            raise ValueError("give mix.total or max_tasks, not both")


class Snapshot(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    dataset_id: str
    number: int
    format: str
    path: str
    manifest: dict[str, Any]
    created_at: datetime


# `answered`: a task with no instance (imported with no answer yet) renders no line, so it is left out and counted.
_SELECT = f"""
    SELECT t.id, t.category, t.fingerprint, t.instruction, s.score,
           EXISTS (SELECT 1 FROM instances i WHERE i.task_id = t.id AND i.dataset_id = t.dataset_id) AS answered,
           t.source
    FROM tasks t LEFT JOIN {SCORES} s ON s.task_id = t.id
    WHERE t.dataset_id = ? {{filters}} {{verified}} ORDER BY t.id
"""
_UNFLAGGED = "AND coalesce(json_array_length(json_extract(t.provenance, '$.quality_flags')), 0) = 0"
_AGREEING = "AND coalesce(TRY_CAST(json_extract(t.provenance, '$.consistency.agreement') AS DOUBLE), 1.0) >= ?"
_VERIFIED = "AND t.id IN (SELECT task_id FROM code_checks WHERE dataset_id = ? AND status = 'passed')"
# Code tasks whose tests were not mutation-scored, or kill too few mutants, are left out; other tasks stay.
_STRONG = "AND t.id NOT IN (SELECT task_id FROM code_checks WHERE dataset_id = ? AND coalesce(kill_rate, -1) < ?)"
_PROVENANCE = """
    SELECT t.source, json_extract_string(t.provenance, '$.method'), json_extract_string(t.provenance, '$.model'),
           CAST(json_extract(t.provenance, '$.templates') AS VARCHAR), count(*)
    FROM tasks t WHERE t.dataset_id = ? AND t.id IN (SELECT task_id FROM snapshot_chunk)
    GROUP BY ALL ORDER BY ALL
"""


def new_snapshot_id() -> str:
    return f"sn_{time.time_ns() // 1_000_000:012x}{secrets.token_hex(4)}"


def _select(store: Store, dataset_id: str, spec: SnapshotSpec) -> tuple[list[SplitRow], dict[int, str], int]:
    """The answered tasks that match the spec's filters, their instructions, and how many matched unanswered."""
    record_filter = RecordFilter(source=spec.source, category=spec.category, is_classification=spec.is_classification,
                                 min_quality=spec.min_quality)  # fmt: skip
    filters, params = filter_clause(record_filter, alias="t")
    code_sql, code_params = "", []
    if spec.verified_only:
        code_sql, code_params = _VERIFIED, [dataset_id]
    if spec.min_kill_rate is not None:
        code_sql, code_params = code_sql + " " + _STRONG, [*code_params, dataset_id, spec.min_kill_rate]
    if spec.exclude_flagged:
        code_sql += " " + _UNFLAGGED
    if spec.min_agreement is not None:
        code_sql, code_params = code_sql + " " + _AGREEING, [*code_params, spec.min_agreement]
    sql = _SELECT.format(filters=filters, verified=code_sql)
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(sql, [dataset_id, *params, *code_params]).fetchall()
    answered = [r for r in rows if r[5]]
    rows_out = [SplitRow(r[0], r[1], r[2], r[4], r[6]) for r in answered]
    return rows_out, {r[0]: r[3] for r in answered}, len(rows) - len(answered)


def _split(rows: list[SplitRow], texts: dict[int, str], spec: SnapshotSpec) -> tuple[dict[int, str], list[int]]:
    sides = stratified_split(rows, spec.validation_fraction, spec.seed)
    index = NearDuplicateIndex(
        spec.near_duplicate_threshold, (texts[t] for t, side in sides.items() if side == "train")
    )
    moved = separate_near_duplicates(sides, texts, lambda text: index.is_near_duplicate(text)[0], index.add)
    return sides, moved


def _generation(store: Store, dataset_id: str, ids: list[int]) -> dict[str, Any]:
    """Where the records came from: method, model and template versions, and the jobs' settings."""
    import pyarrow as pa

    with store.read() as cur:
        cur.register("snapshot_chunk", pa.table({"task_id": pa.array(ids, pa.int64())}))
        groups = cur.execute(_PROVENANCE, [dataset_id]).fetchall()
        jobs = cur.execute(
            """SELECT id, method, params FROM jobs WHERE id IN (SELECT DISTINCT job_id FROM tasks
               WHERE dataset_id = ? AND id IN (SELECT task_id FROM snapshot_chunk)) ORDER BY id""",
            [dataset_id],
        ).fetchall()
        cur.unregister("snapshot_chunk")
    return {
        "records_by_origin": [
            {"source": s, "method": m, "model": model, "templates": msgspec.json.decode(t) if t else None, "tasks": n}
            for s, m, model, t, n in groups
        ],
        "jobs": [{"id": j, "method": m, "params": _public_params(p)} for j, m, p in jobs],
    }


def _public_params(params: str) -> dict[str, Any]:
    """A job's request as a manifest shows it: endpoint and webhook URLs without credentials, no webhook secret."""
    decoded = msgspec.json.decode(params)
    if decoded.get("webhook"):
        decoded["webhook"] = {"url": redact_url(decoded["webhook"]["url"]), "secret": REDACTED}
    if decoded.get("endpoints"):
        decoded["endpoints"] = [redact_url(e) for e in decoded["endpoints"]]
    return decoded


def _counts(
    rows: list[SplitRow], sides: dict[int, str], files: dict[str, FileEntry], chats: dict[str, ChatCounts]
) -> dict[str, Any]:
    by_category: dict[str, dict[str, int]] = {split: {} for split in SPLITS}
    for row in rows:
        split_counts = by_category[sides[row.task_id]]
        split_counts[row.category] = split_counts.get(row.category, 0) + 1
    return {
        split: {
            "tasks": sum(by_category[split].values()),
            "records": files[f"{split}.jsonl"].records,
            **msgspec.to_builtins(chats[split]),
            "by_category": dict(sorted(by_category[split].items())),
        }  # fmt: skip
        for split in SPLITS
    }


def _write_files(
    store: Store, dataset_id: str, spec: SnapshotSpec, sides: dict[int, str], folder: Path
) -> tuple[dict[str, FileEntry], dict[str, ChatCounts]]:
    files: dict[str, FileEntry] = {}
    with store.read() as cur:
        for split in SPLITS:
            ids = sorted(t for t, side in sides.items() if side == split)
            path = folder / f"{split}.jsonl"
            files[path.name] = write_split(cur, dataset_id, spec.format, ids, path, spec.system_prompt)
        code = write_code_tests(cur, dataset_id, sides, folder / "code_tests.jsonl")
        chats = chat_counts(cur, dataset_id, spec.format, sides, SPLITS)
    if code is not None:
        files["code_tests.jsonl"] = code
    return files, chats


def create_snapshot(store: Store, dataset_id: str, spec: SnapshotSpec, root: Path) -> Snapshot:
    """Select, split and write a snapshot under `root/<id>/`; record it. Blocking: call from a thread."""
    dataset = get_dataset(store, dataset_id)
    if spec.mix is not None:
        check_names(store, dataset_id, spec.mix)
    rows, texts, unanswered = _select(store, dataset_id, spec)
    contamination = find_contamination(store, dataset_id, [r.task_id for r in rows], benchmarks=spec.benchmarks)
    excluded = set(contamination.contaminated_task_ids) if spec.exclude_contaminated else set()
    rows = [r for r in rows if r.task_id not in excluded]
    rows, capped = cap_per_category(rows, spec.per_category_cap, spec.seed)
    mixed, plans = mix_rows(rows, spec.mix, spec.rank_by, spec.seed)
    cut_by_mix, rows = len(rows) - len(mixed), mixed
    ranked = take_best(rows, spec.max_tasks, spec.rank_by, spec.seed)
    cut, rows = len(rows) - len(ranked), ranked
    if not rows:
        raise _empty_selection(spec, matched=len(texts) + unanswered, excluded=len(excluded), unanswered=unanswered)
    sides, moved = _split(rows, texts, spec)
    snapshot_id = new_snapshot_id()
    work = partial_folder(root, snapshot_id)
    work.mkdir(parents=True)
    try:
        files, chats = _write_files(store, dataset_id, spec, sides, work)
        sync_files(work)  # the data on disk before the write lock is taken: under it, only small documents
        balance = balance_report(store, dataset_id, share_limit=spec.balance_share_limit, task_ids=sorted(sides))
        manifest: dict[str, Any] = {
            "snapshot_id": snapshot_id, "dataset_id": dataset_id, "dataset_name": dataset.name,
            "format": spec.format, "spec": msgspec.to_builtins(spec), "files": msgspec.to_builtins(files),
            "content_sha256": content_sha256(files), "counts": _counts(rows, sides, files, chats),
            "selection": {"matched": len(rows) + len(excluded) + sum(capped.values()) + cut + cut_by_mix + unanswered,
                          "unanswered": unanswered, "excluded_contaminated": len(excluded),
                          "capped_by_category": capped,
                          "cut_by_max_tasks": cut, "cut_by_mix": cut_by_mix,
                          "moved_to_train_near_duplicates": len(moved)},
            "contamination": msgspec.to_builtins(contamination), "balance": msgspec.to_builtins(balance),
            "generation": _generation(store, dataset_id, sorted(sides)),
            **manifest_sources(store, dataset_id, sorted(sides)),
            "mix": None if spec.mix is None else mix_manifest(spec.mix, plans, rows),
            "created_at": datetime.now(UTC).isoformat(),
        }  # fmt: skip
        publish(store, manifest, work, root / snapshot_id)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return get_snapshot(store, snapshot_id)


def _empty_selection(spec: SnapshotSpec, *, matched: int, excluded: int, unanswered: int) -> ConflictError:
    """Nothing to write: refused before any file exists (an empty train.jsonl is a file no loader reads)."""
    why = "no task of the dataset matches the filters (or the dataset has none)"
    if matched and not unanswered:
        why = f"all {matched} matching tasks are contaminated (exclude_contaminated is on)"
    elif matched:
        why = (
            f"of the {matched} matching tasks, {unanswered} have no answer yet (an `annotate` job answers them) "
            f"and {excluded} are contaminated"
        )
    return ConflictError(
        f"empty selection: {why}; nothing was written", code="empty_selection",
        extra={"matched": matched, "excluded_contaminated": excluded, "format": spec.format},
    )  # fmt: skip


def _row_to_snapshot(row: tuple) -> Snapshot:
    return Snapshot(id=row[0], dataset_id=row[1], number=row[2], format=row[3], path=row[4],
                    manifest=msgspec.json.decode(row[5]), created_at=row[6])  # fmt: skip


_SNAPSHOT_COLUMNS = "SELECT id, dataset_id, number, format, path, manifest, created_at FROM snapshots"


def get_snapshot(store: Store, snapshot_id: str) -> Snapshot:
    with store.read() as cur:
        rows = cur.execute(f"{_SNAPSHOT_COLUMNS} WHERE id = ?", [snapshot_id]).fetchall()
    if not rows:
        raise NotFoundError(f"no snapshot {snapshot_id!r}", code="snapshot_not_found")
    return _row_to_snapshot(rows[0])


def list_snapshots(store: Store, dataset_id: str) -> list[Snapshot]:
    with store.read() as cur:
        require_dataset(cur, dataset_id)
        rows = cur.execute(f"{_SNAPSHOT_COLUMNS} WHERE dataset_id = ? ORDER BY number", [dataset_id]).fetchall()
    return [_row_to_snapshot(row) for row in rows]


SnapshotFile = Literal["train.jsonl", "validation.jsonl", "code_tests.jsonl", "manifest.json", "dataset_info.json",
                       "README.md"]  # fmt: skip


# Beside the data files (listed, with their hashes, in the manifest): the files that describe them.
SNAPSHOT_DOCUMENTS = ("manifest.json", "dataset_info.json", "README.md")


def snapshot_file(store: Store, snapshot_id: str, name: str) -> Path:
    """The path of one of a snapshot's files; only names the snapshot has (no path tricks)."""
    snapshot = get_snapshot(store, snapshot_id)
    if name not in snapshot.manifest["files"] and name not in SNAPSHOT_DOCUMENTS:
        raise NotFoundError(f"snapshot {snapshot_id!r} has no file {name!r}", code="snapshot_file_not_found")
    path = Path(snapshot.path) / name
    if not path.is_file():
        raise NotFoundError(
            f"the file {name!r} of snapshot {snapshot_id!r} is missing on disk", code="snapshot_file_missing"
        )
    return path
