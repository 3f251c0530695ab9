"""What the CLI shows: rich renderables built from the API's Structs (pure: no I/O, no console)."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Column, Table
from rich.text import Text

from service.client import ExportResult, PullResult
from service.schemas import DatasetOut, JobOut, SnapshotOut
from store.ingest.imports import ImportReport
from store.ingest.seeds import SeedReport
from store.stats import DatasetStats

_STATUS_STYLE = {"queued": "yellow", "running": "cyan", "succeeded": "green", "failed": "red", "cancelled": "magenta"}
_FUNNEL_ORDER = ("prompts", "candidates", "passed_filters", "classification", "judged", "accepted")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _status(status: str) -> Text:
    return Text(status, style=_STATUS_STYLE.get(status, ""))


def _id(header: str = "id") -> Column:
    """Ids are what a person copies into the next command: never cut."""
    return Column(header, no_wrap=True, min_width=24)


def datasets_table(items: list[DatasetOut]) -> Table:
    table = Table(_id(), "name", "tasks", "instances", "created", "description", title="datasets")
    for d in items:
        table.add_row(d.id, d.name, str(d.tasks), str(d.instances), f"{d.created_at:%Y-%m-%d %H:%M}", d.description)
    return table


def jobs_table(items: list[JobOut]) -> Table:
    table = Table(_id(), _id("dataset"), "method", "status", "accepted", "target", "created", title="jobs")
    for j in items:
        table.add_row(j.id, j.dataset_id, j.method, _status(j.status), str(j.accepted), str(j.target),
                      f"{j.created_at:%Y-%m-%d %H:%M}")  # fmt: skip
    return table


def seed_report(report: SeedReport) -> Text:
    near = "not checked" if report.near_duplicates is None else str(report.near_duplicates)
    return Text(
        f"received {report.received}, added {report.added} tasks ({report.instances_added} instances), "
        f"duplicates skipped {report.duplicates_skipped}, near-duplicates {near} (upload {report.upload_id})"
    )


def import_report(report: ImportReport) -> Table:
    table = Table("", "", title=f"import {report.import_id}: {report.source} ({report.license})", title_justify="left")
    for name, value in (
        ("layout / format", f"{report.layout} / {report.file_format}, {report.bytes:,} bytes"),
        ("rows read", f"{report.rows:,} ({report.rows_per_second:,.0f} rows/s, {report.seconds:.1f} s)"),
        ("added", f"{report.added:,} ({report.unanswered:,} without an answer, {report.conversations:,} chats)"),
        ("left out", f"{report.exact_duplicates:,} exact duplicates, {report.near_duplicates:,} near-duplicates"),
        ("benchmark overlap", f"{report.contaminated:,} records"),
        *(("overlap", o.summary) for o in report.overlap),
    ):
        table.add_row(name, value)
    return table


def _funnel(job: JobOut) -> Table:
    """The acceptance funnel: each stage's count and its share of the candidates, then every rejection reason."""
    stages = job.progress.stages
    candidates = stages.get("candidates") or 0
    table = Table("stage", "count", "of candidates", title="acceptance funnel", title_justify="left")
    ordered = [s for s in _FUNNEL_ORDER if s in stages] + sorted(set(stages) - set(_FUNNEL_ORDER))
    for stage in ordered:
        share = f"{stages[stage] / candidates:.0%}" if candidates and stage != "prompts" else ""
        table.add_row(stage, str(stages[stage]), share)
    if not stages:
        table.add_row("(no round committed yet)", "", "")
    for reason, count in sorted(job.rejections_by_reason.items(), key=lambda kv: (-kv[1], kv[0])):
        share = f"{count / candidates:.0%}" if candidates else ""
        table.add_row(Text(f"rejected: {reason}", style="red"), str(count), share)
    return table


def job_view(job: JobOut) -> Group:
    """One frame of `jobs watch`: the bar (accepted of target), the funnel, tokens/s and ETA."""
    progress = job.progress
    done = min(job.accepted, job.target)
    head = Text.assemble((job.id, "bold"), f"  {job.method}  dataset {job.dataset_id}  ", _status(job.status))
    bar = Table.grid(padding=(0, 1))
    bar.add_row(ProgressBar(total=job.target, completed=done, width=40),
                f"{job.accepted}/{job.target} accepted ({done / job.target:.0%})")  # fmt: skip
    rates = Text(
        f"rounds {progress.rounds}  tokens {progress.tokens}  {progress.tokens_per_s:.1f} tokens/s  "
        f"{progress.tasks_per_min:.1f} tasks/min  elapsed {_duration(progress.elapsed_s)}  "
        f"ETA {_duration(progress.eta_s)}"
    )
    parts: list[RenderableType] = [head, bar, rates, _funnel(job)]
    if job.stop_reason or job.error:
        parts.append(Text(f"stopped: {job.stop_reason or '-'}" + (f"  error: {job.error}" if job.error else "")))
    return Group(*parts)


def _counts(title: str, counts: dict[str, int], total: int, limit: int = 25) -> Table:
    table = Table("", "count", "share", title=title, title_justify="left")
    for key, count in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]:
        table.add_row(key, str(count), f"{count / total:.1%}" if total else "")
    if len(counts) > limit:
        table.add_row(f"... {len(counts) - limit} more", "", "")
    return table


def _sources(stats: DatasetStats, limit: int = 25) -> Table:
    """Tasks per source with their instances and the tasks still without an answer (imports wait for annotate)."""
    if not stats.sources:  # a server from before per-source counts
        return _counts("by source", stats.by_source, stats.tasks, limit)
    table = Table("", "count", "share", "instances", "no answer", title="by source", title_justify="left")
    for source, counts in list(stats.sources.items())[:limit]:  # largest first, as the server orders them
        share = f"{counts.tasks / stats.tasks:.1%}" if stats.tasks else ""
        table.add_row(source, str(counts.tasks), share, str(counts.instances), str(counts.unanswered))
    if len(stats.sources) > limit:
        table.add_row(f"... {len(stats.sources) - limit} more", "", "", "", "")
    return table


def stats_view(stats: DatasetStats) -> Group:
    overview = Table("tasks", "instances", "with input", "classification", "duplicates skipped", "rejections",
                     title=f"dataset {stats.dataset_id}", title_justify="left")  # fmt: skip
    overview.add_row(str(stats.tasks), str(stats.instances), str(stats.instances_with_input),
                     f"{stats.classification.count} ({stats.classification.share:.1%})",
                     str(stats.duplicates_skipped), str(stats.rejections))  # fmt: skip
    lengths = Table("characters", "min", "p50", "p90", "p99", "max", "mean", title="lengths", title_justify="left")
    for field, summary in stats.lengths.items():
        if summary is not None:
            lengths.add_row(field, *(str(v) for v in (summary.min, summary.p50, summary.p90, summary.p99,
                                                      summary.max)), f"{summary.mean:.1f}")  # fmt: skip
    parts: list[RenderableType] = [
        overview, _sources(stats), _counts("by category", stats.by_category,
        stats.tasks), lengths, _counts("rejections by reason", stats.rejections_by_reason, stats.rejections),
    ]  # fmt: skip
    if stats.balance is not None and stats.balance.warnings:
        parts.append(Text("\n".join(f"warning: {w.message}" for w in stats.balance.warnings), style="yellow"))
    return Group(*parts)


def snapshot_view(snapshot: SnapshotOut) -> Group:
    table = Table("file", "records", "bytes", "sha256", title=f"snapshot {snapshot.id} (number {snapshot.number}, "
                  f"{snapshot.format}, dataset {snapshot.dataset_id})", title_justify="left")  # fmt: skip
    for f in snapshot.files:
        table.add_row(f.name, str(f.records), str(f.bytes), f.sha256)
    for d in snapshot.documents:
        table.add_row(d.name, "", "", "")
    return Group(table, Text(f"content sha256 {snapshot.content_sha256}"))


def export_done(result: ExportResult) -> Text:
    return Text(f"wrote {result.lines} lines ({result.bytes} bytes) to {result.path}")


def pull_done(result: PullResult) -> Text:
    return Text(f"pulled {len(result.files)} data files (SHA-256 checked) and {len(result.documents)} documents, "
                f"{result.bytes} bytes, into {result.folder}")  # fmt: skip
