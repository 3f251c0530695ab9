"""The client commands of `instructforge`: datasets, seeds, import, jobs, stats, export, snapshot (over HTTP).

Every command takes `--url` (INSTRUCTFORGE_URL, default http://127.0.0.1:8000), `--api-key`
(INSTRUCTFORGE_API_KEY) and `--json` (the answer's JSON body on stdout, for scripts; `jobs watch --json`
prints one JSON line per state). A dataset argument is an id or a name.

Exit codes, for scripts:

| code | meaning                                                                               |
|------|---------------------------------------------------------------------------------------|
| 0    | done                                                                                  |
| 1    | the service answered an error (its code and detail on stderr; with --json, the body)  |
| 2    | usage error: a bad option or argument, an unreadable spec file, an output that exists |
| 3    | cannot connect to the service (or it stopped answering)                               |
| 4    | `jobs watch`: the job ended failed or cancelled                                       |
| 5    | a downloaded file does not match its SHA-256 (nothing was kept)                       |
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import msgspec
import typer
from rich.console import Console
from rich.live import Live

from domain.imports import ImportSpec
from domain.job_spec import JobSpec, Method
from service import client_views as views
from service.client import APIError, Client, IntegrityError, UnreachableError
from service.client.core import API_KEY_ENV, DEFAULT_URL, URL_ENV
from service.schemas import JobOut
from store.export import ExportFormat
from store.snapshots.snapshot import SnapshotSpec

EXIT_API, EXIT_USAGE, EXIT_UNREACHABLE, EXIT_JOB_FAILED, EXIT_INTEGRITY = 1, 2, 3, 4, 5

Url = Annotated[str, typer.Option("--url", envvar=URL_ENV, help="The service's base URL.")]
ApiKey = Annotated[
    str | None,
    typer.Option("--api-key", envvar=API_KEY_ENV, help="Sent as `Authorization: Bearer`.", show_default=False),
]
AsJson = Annotated[bool, typer.Option("--json", help="Print the answer's JSON body (for scripts).")]
DatasetArg = Annotated[str, typer.Argument(metavar="DATASET", help="A dataset id or name.", show_default=False)]
JobArg = Annotated[str, typer.Argument(metavar="JOB", help="A job id.", show_default=False)]
SnapshotArg = Annotated[str, typer.Argument(metavar="SNAPSHOT", help="A snapshot id.", show_default=False)]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the new id.")]
Format = Annotated[ExportFormat, typer.Option("--format", help="Record format.")]

EXIT_CODES = "Exit codes: 0 done, 1 the service answered an error, 2 usage error, 3 cannot connect, 4 the watched job failed or was cancelled, 5 a download failed its SHA-256 check."  # noqa: E501
datasets_app = typer.Typer(help="Create and list datasets.", no_args_is_help=True, epilog=EXIT_CODES)
seeds_app = typer.Typer(help="Add seed tasks to a dataset.", no_args_is_help=True, epilog=EXIT_CODES)
jobs_app = typer.Typer(
    help="Create, watch, list, show and cancel generation jobs.", no_args_is_help=True, epilog=EXIT_CODES
)
snapshot_app = typer.Typer(
    help="Create, show and pull snapshots (what a trainer reads).", no_args_is_help=True, epilog=EXIT_CODES
)


@contextmanager
def session(url: str, api_key: str | None, as_json: bool = False) -> Iterator[Client]:
    """A client whose failures become the documented exit codes."""
    client = Client(url, api_key=api_key)
    try:
        yield client
    except APIError as exc:
        if as_json:
            typer.echo(json.dumps(exc.body()))
        typer.echo(f"error: {exc.status_code} {exc.code}: {exc.detail}", err=True)
        raise typer.Exit(EXIT_API) from None
    except UnreachableError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_UNREACHABLE) from None
    except IntegrityError as exc:
        typer.echo(f"error: download does not match: {exc}", err=True)
        raise typer.Exit(EXIT_INTEGRITY) from None
    finally:
        client.close()


def emit(answer: Any, as_json: bool, view: Any) -> None:
    if as_json:
        typer.echo(msgspec.json.encode(answer).decode())
    else:
        Console().print(view(answer))


def _read_json_file(path: Path, what: str) -> dict[str, Any]:
    try:
        body = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(f"cannot read {what} {path}: {exc}") from None
    if not isinstance(body, dict):
        raise typer.BadParameter(f"{what} {path} must hold a JSON object")
    return body


def _convert(body: dict[str, Any], struct: type, what: str) -> Any:
    """Checked here with the service's own Struct, so a typo is a usage error before anything is sent."""
    try:
        return msgspec.convert(body, type=struct, strict=True)
    except msgspec.ValidationError as exc:
        raise typer.BadParameter(f"invalid {what}: {exc}") from None


# datasets


@datasets_app.command("list")
def datasets_list(url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """List every dataset."""
    with session(url, api_key, as_json) as client:
        items = list(client.datasets.iter())
    emit(items, as_json, views.datasets_table)


@datasets_app.command("create")
def datasets_create(
    name: str, description: str = "", url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
    quiet: Quiet = False,
) -> None:  # fmt: skip
    """Create a dataset named NAME."""
    with session(url, api_key, as_json) as client:
        dataset = client.datasets.create(name, description)
    if quiet and not as_json:
        typer.echo(dataset.id)
        return
    emit(dataset, as_json, lambda d: views.datasets_table([d]))


@datasets_app.command("show")
def datasets_show(dataset: DatasetArg, url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Show one dataset (by id or name)."""
    with session(url, api_key, as_json) as client:
        found = client.datasets.resolve(dataset)
    emit(found, as_json, lambda d: views.datasets_table([d]))


# seeds


@seeds_app.command("add")
def seeds_add(
    dataset: DatasetArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines or a JSON array.")],
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """Add the seed tasks in FILE to DATASET (all or nothing)."""
    body = file.read_bytes()
    content_type = "application/json" if body.lstrip()[:1] == b"[" else "application/x-ndjson"
    with session(url, api_key, as_json) as client:
        report = client.seeds.upload(client.datasets.resolve(dataset).id, body, content_type)
    emit(report, as_json, views.seed_report)


def import_file(
    dataset: DatasetArg,
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="JSON Lines, a JSON array or Parquet.")],
    source: Annotated[str, typer.Option(help="The records' source name, e.g. alpaca (not seed or generated).")],
    license: Annotated[str | None, typer.Option(help="SPDX id, e.g. CC-BY-NC-4.0.")] = None,  # noqa: A002
    source_url: Annotated[str | None, typer.Option("--source-url", help="Where the file comes from.")] = None,
    layout: Annotated[str | None, typer.Option(help="alpaca, dolly, self_instruct, sharegpt, messages, "
                                                    "prompt_completion; detected if absent.")] = None,
    mapping: Annotated[str | None, typer.Option(help='JSON: {"instruction": "question", "output": "answer"}.')] = None,
    turns: Annotated[str | None, typer.Option(help="all (default) or first: chats cut to one exchange.")] = None,
    near_duplicates: Annotated[str | None, typer.Option(help="skip (default), keep or off.")] = None,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """Import FILE, a file of an open dataset, into DATASET (all or nothing; streamed, however large)."""
    fields = {"source": source, "license": license, "url": source_url, "layout": layout, "turns": turns,
              "near_duplicates": near_duplicates}  # fmt: skip
    if mapping is not None:
        try:
            fields["mapping"] = json.loads(mapping)
        except ValueError as exc:
            raise typer.BadParameter(f"--mapping is not JSON: {exc}") from None
    spec = _convert({k: v for k, v in fields.items() if v is not None}, ImportSpec, "import options")
    with session(url, api_key, as_json) as client:
        report = client.imports.upload(client.datasets.resolve(dataset).id, file, spec)
    emit(report, as_json, views.import_report)


# jobs


@jobs_app.command("create")
def jobs_create(
    dataset: DatasetArg,
    target: Annotated[int | None, typer.Option(help="Tasks to accept (required unless --spec has it).")] = None,
    method: Annotated[Method | None, typer.Option(help="Generation method (default self_instruct).")] = None,
    spec: Annotated[Path | None, typer.Option(help="A JSON file with the job's body (any JobSpec field).")] = None,
    seed: Annotated[int | None, typer.Option(help="The job's random seed.")] = None,
    idempotency_key: Annotated[str | None, typer.Option(help="A retry with the same key starts no second job.")] = None,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False, quiet: Quiet = False,
) -> None:  # fmt: skip
    """Queue a generation job on DATASET; prints the job (its id first)."""
    body = _read_json_file(spec, "spec file") if spec else {}
    body |= {k: v for k, v in {"target": target, "method": method, "seed": seed}.items() if v is not None}
    if "target" not in body:
        raise typer.BadParameter("--target is required (or a `target` in --spec)")
    with session(url, api_key, as_json) as client:
        body["dataset_id"] = client.datasets.resolve(dataset).id
        job = client.jobs.create(_convert(body, JobSpec, "job spec"), idempotency_key=idempotency_key)
    if quiet and not as_json:
        typer.echo(job.id)
        return
    emit(job, as_json, views.job_view)


def watch_job(client: Client, job_id: str, console: Console, poll_s: float = 1.0) -> JobOut:
    """Follow the job with a live view until it ends; its last state. Redrawn on each new state only: every
    figure comes from the service, so nothing changes between them."""
    with Live(views.job_view(client.jobs.get(job_id)), console=console, auto_refresh=False) as live:
        return client.jobs.wait(job_id, lambda job: live.update(views.job_view(job), refresh=True), poll_s=poll_s)


@jobs_app.command("watch")
def jobs_watch(
    job: JobArg,
    poll: Annotated[float, typer.Option(min=0.1, help="Seconds between polls when the service has no events.")] = 1.0,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """Follow JOB live (progress bar, acceptance funnel, tokens/s, ETA) until it ends.

    Exits 0 when it succeeded, 4 when it failed or was cancelled."""
    with session(url, api_key, as_json) as client:
        if as_json:
            final = client.jobs.wait(job, on_update=lambda j: typer.echo(msgspec.json.encode(j).decode()), poll_s=poll)
        else:
            final = watch_job(client, job, Console(), poll)
    if final.status != "succeeded":
        typer.echo(f"job {final.id} {final.status}: {final.error or final.stop_reason or ''}", err=True)
        raise typer.Exit(EXIT_JOB_FAILED)


@jobs_app.command("list")
def jobs_list(
    dataset: Annotated[str | None, typer.Option(help="Only this dataset's jobs (id or name).")] = None,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """List jobs, oldest first (one page)."""
    with session(url, api_key, as_json) as client:
        dataset_id = client.datasets.resolve(dataset).id if dataset else None
        page = client.jobs.list(dataset_id=dataset_id)
    emit(page, as_json, lambda p: views.jobs_table(p.items))


@jobs_app.command("show")
def jobs_show(job: JobArg, url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Show one job: status, progress, funnel, rejections."""
    with session(url, api_key, as_json) as client:
        found = client.jobs.get(job)
    emit(found, as_json, views.job_view)


@jobs_app.command("cancel")
def jobs_cancel(job: JobArg, url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False) -> None:
    """Cancel JOB (a queued one at once, a running one after its current round)."""
    with session(url, api_key, as_json) as client:
        found = client.jobs.cancel(job)
    emit(found, as_json, views.job_view)


# stats and export


def stats(
    dataset: DatasetArg,
    balance: Annotated[bool, typer.Option(help="Include the balance report (slower on large datasets).")] = True,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """DATASET's counts, categories, lengths and rejections, as tables."""
    with session(url, api_key, as_json) as client:
        report = client.stats(client.datasets.resolve(dataset).id, balance=balance)
    emit(report, as_json, views.stats_view)


def export(
    dataset: DatasetArg,
    output: Annotated[Path, typer.Option("--output", "-o", dir_okay=False, help="The NDJSON file to write.")],
    export_format: Format = "alpaca",
    source: Annotated[str | None, typer.Option(help="Only this source: seed, generated or an import's.")] = None,
    category: str | None = None,
    min_quality: Annotated[float | None, typer.Option(help="Only tasks the judge scored at least this.")] = None,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """Stream DATASET as JSON Lines into a file (written whole or not at all)."""
    with session(url, api_key, as_json) as client:
        dataset_id = client.datasets.resolve(dataset).id
        result = client.export(dataset_id, output, export_format, source=source, category=category,
                               min_quality=min_quality)  # fmt: skip
    emit(result, as_json, views.export_done)


# snapshots


@snapshot_app.command("create")
def snapshot_create(
    dataset: DatasetArg,
    export_format: Format = "prompt_completion",
    spec: Annotated[Path | None, typer.Option(help="A JSON file with the snapshot's body (any field).")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the split and of any random choice.")] = None,
    max_tasks: Annotated[int | None, typer.Option(help="At most this many tasks.")] = None,
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False, quiet: Quiet = False,
) -> None:  # fmt: skip
    """Freeze DATASET into a numbered snapshot with a manifest."""
    body = _read_json_file(spec, "spec file") if spec else {}
    body |= {k: v for k, v in {"format": export_format, "seed": seed, "max_tasks": max_tasks}.items() if v is not None}
    snapshot_spec = _convert(body, SnapshotSpec, "snapshot spec")
    with session(url, api_key, as_json) as client:
        snapshot = client.snapshots.create(client.datasets.resolve(dataset).id, snapshot_spec)
    if quiet and not as_json:
        typer.echo(snapshot.id)
        return
    emit(snapshot, as_json, views.snapshot_view)


@snapshot_app.command("show")
def snapshot_show(
    snapshot: SnapshotArg, url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False
) -> None:
    """Show a snapshot's files and hashes."""
    with session(url, api_key, as_json) as client:
        found = client.snapshots.get(snapshot)
    emit(found, as_json, views.snapshot_view)


@snapshot_app.command("pull")
def snapshot_pull(
    snapshot: SnapshotArg,
    output: Annotated[Path, typer.Option("--output", "-o", file_okay=False, help="A new (or empty) folder.")],
    url: Url = DEFAULT_URL, api_key: ApiKey = None, as_json: AsJson = False,
) -> None:  # fmt: skip
    """Download every file of SNAPSHOT into a folder, checking each SHA-256; the folder appears complete or not."""
    with session(url, api_key, as_json) as client:
        try:
            result = client.snapshots.pull(snapshot, output)
        except FileExistsError as exc:
            raise typer.BadParameter(str(exc), param_hint="--output") from None
    emit(result, as_json, views.pull_done)


def register(cli: typer.Typer) -> None:
    """Add the client commands to the `instructforge` command."""
    cli.add_typer(datasets_app, name="datasets")
    cli.add_typer(seeds_app, name="seeds")
    cli.add_typer(jobs_app, name="jobs")
    cli.add_typer(snapshot_app, name="snapshot")
    cli.command("stats", epilog=EXIT_CODES)(stats)
    cli.command("export", epilog=EXIT_CODES)(export)
    cli.command("import", epilog=EXIT_CODES)(import_file)
