"""The `instructforge` client commands (service.client_cli) against a real `instructforge serve` process.

The engine is remote: a scripted OpenAI-compatible completions server in this process, slow enough (a fixed
delay per request) that a real job runs for a few seconds, so `jobs watch` follows real progress to the end.
The watch's terminal capture is kept under tests/artifacts/cli/ (and the test's tmp dir).
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import shutil
import signal
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from rich.console import Console
from typer.testing import CliRunner

from service.cli import cli
from service.client import Client
from service.client_cli import watch_job
from tests.service.scripted_engine import ScriptedEngine, scripted_engine
from tests.service.servers import Server, free_port

pytestmark = pytest.mark.server
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts" / "cli"
ENGINE_DELAY_S = 0.3  # per completion request: a round (list, classify, instance) takes about a second
# What the scripted model lists, one per round; three are rejected (too short, a program, a seed's duplicate).
SCRIPT = [
    "Write a limerick about a forgetful astronaut who misplaces the moon.",
    "Draw.",
    "Describe three practical ways a small bakery can reduce its food waste.",
    "Write a program that sorts a list of numbers.",
    "Plan a two-day hiking itinerary through a coastal national park.",
    "Explain how vaccines train the immune system to recognise a virus.",
    "Suggest five names for a podcast about urban gardening.",
    "Compose a short lullaby for a sleepy baby otter.",
]


@pytest.fixture(scope="module")
def engine() -> Iterator[ScriptedEngine]:
    with scripted_engine(SCRIPT, ENGINE_DELAY_S) as server:
        yield server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, engine: ScriptedEngine) -> Iterator[Server]:
    env = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": engine.url}
    running = Server(tmp_path_factory.mktemp("cli") / "data", free_port(), env)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        running.stop(signal.SIGKILL)


def run(server: Server | None, *args: str):
    """`instructforge ARGS` in this process, pointed at the server by INSTRUCTFORGE_URL."""
    env = {"INSTRUCTFORGE_URL": server.url if server else "http://127.0.0.1:1", "COLUMNS": "120"}
    return CliRunner().invoke(cli, list(args), env=env)


def as_json(result) -> dict | list:
    assert result.exit_code == 0, (result.exit_code, result.output)
    return json.loads(result.stdout)


COMMANDS = [[], ["datasets"], ["datasets", "list"], ["datasets", "create"], ["datasets", "show"], ["seeds"],
            ["seeds", "add"], ["import"], ["jobs"], ["jobs", "create"], ["jobs", "watch"], ["jobs", "list"],
            ["jobs", "show"], ["jobs", "cancel"], ["stats"], ["export"], ["snapshot"], ["snapshot", "create"],
            ["snapshot", "show"], ["snapshot", "pull"], ["serve"], ["settings"], ["migrate"]]  # fmt: skip


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "instructforge")
def test_help_everywhere(command: list[str]) -> None:
    result = run(None, *command, "--help")
    assert result.exit_code == 0 and "Usage: " in result.stdout, result.output
    if len(command) == 2 and command[0] != "datasets" or command in (["stats"], ["export"]):
        assert "--json" in result.stdout and "--url" in result.stdout and "--api-key" in result.stdout
    if not command:  # the server's own commands are still there beside the client's
        for name in ("serve", "settings", "migrate", "datasets", "seeds", "jobs", "stats", "export", "snapshot"):
            assert f" {name} " in result.stdout, name


def test_datasets_seeds_stats_export_and_a_pulled_snapshot(server: Server, seed_file: Path, tmp_path: Path) -> None:
    dataset_id = run(server, "datasets", "create", "paper-seeds", "-q").stdout.strip()
    assert dataset_id.startswith("ds_")
    assert dataset_id in {d["id"] for d in as_json(run(server, "datasets", "list", "--json"))}
    assert "paper-seeds" in run(server, "datasets", "list").stdout
    assert as_json(run(server, "seeds", "add", "paper-seeds", str(seed_file), "--json"))["added"] == 175  # by name
    stats = as_json(run(server, "stats", dataset_id, "--json"))
    assert stats["tasks"] == 175 and stats["by_source"] == {"seed": 175}
    table = run(server, "stats", "paper-seeds").stdout
    assert "by category" in table and "lengths" in table and "175" in table
    exported = as_json(run(server, "export", dataset_id, "-o", str(tmp_path / "train.jsonl"), "--format", "sharegpt",
                           "--json"))  # fmt: skip
    assert exported["lines"] == stats["instances"] == len((tmp_path / "train.jsonl").read_bytes().splitlines())
    snapshot = as_json(run(server, "snapshot", "create", dataset_id, "--format", "messages", "--seed", "5", "--json"))
    assert snapshot["format"] == "messages" and snapshot["number"] == 1
    assert snapshot["id"] in run(server, "snapshot", "show", snapshot["id"]).stdout
    pulled = as_json(run(server, "snapshot", "pull", snapshot["id"], "-o", str(tmp_path / "snap"), "--json"))
    assert pulled["files"] == [f["name"] for f in snapshot["files"]]
    for entry in snapshot["files"]:
        assert hashlib.sha256((tmp_path / "snap" / entry["name"]).read_bytes()).hexdigest() == entry["sha256"]
    assert {d["name"] for d in snapshot["documents"]} <= {p.name for p in (tmp_path / "snap").iterdir()}


def test_import_streams_a_file_and_prints_the_overlap(server: Server, tmp_path: Path) -> None:
    rows = [{"instruction": "Give three tips for staying healthy.", "output": "Sleep."},
            {"instruction": "Explain why the sky looks blue during the day.", "output": "Scattering."}]  # fmt: skip
    first, second = tmp_path / "a.jsonl", tmp_path / "b.json"
    first.write_text("".join(json.dumps(row) + "\n" for row in rows))
    second.write_text(json.dumps([{"q": r["instruction"], "a": r["output"]} for r in rows[:1]]
                                 + [{"q": "Name a famous bridge and say why it matters.", "a": "Golden Gate."}]))
    run(server, "datasets", "create", "opens")
    report = as_json(run(server, "import", "opens", str(first), "--source", "alpaca", "--license", "CC-BY-NC-4.0",
                         "--json"))  # fmt: skip
    assert (report["layout"], report["added"], report["license"]) == ("alpaca", 2, "CC-BY-NC-4.0")
    shown = run(server, "import", "opens", str(second), "--source", "quiz", "--mapping",
                '{"instruction": "q", "output": "a"}')  # fmt: skip
    assert shown.exit_code == 0, shown.output
    assert "1 of 2 records duplicate alpaca" in shown.stdout and "mapping / json" in shown.stdout
    assert run(server, "import", "opens", str(first), "--source", "x", "--mapping", "{no").exit_code == 2
    assert run(server, "import", "opens", str(first), "--source", "seed").exit_code == 2  # reserved: a usage error


def test_exit_codes(server: Server, tmp_path: Path) -> None:
    missing = run(server, "jobs", "show", "job_missing")
    assert missing.exit_code == 1 and "404 job_not_found" in missing.stderr
    body = json.loads(run(server, "datasets", "show", "nothing-by-this-name", "--json").stdout)
    assert (body["status_code"], body["code"]) == (404, "dataset_not_found")  # --json: the error body, for scripts
    dataset_id = run(server, "datasets", "create", "exits", "-q").stdout.strip()
    assert run(server, "datasets", "create", "exits").exit_code == 1  # the name is taken: the service says so
    assert run(server, "jobs", "create", dataset_id).exit_code == 2  # no --target
    spec = tmp_path / "spec.json"
    spec.write_text('{"target": 3, "colour": "red"}')
    refused = run(server, "jobs", "create", dataset_id, "--spec", str(spec))
    assert refused.exit_code == 2 and "colour" in refused.output  # checked before anything is sent
    spec.write_text("not json")
    assert run(server, "jobs", "create", dataset_id, "--spec", str(spec)).exit_code == 2
    assert run(server, "jobs", "create", dataset_id, "--target", "-1").exit_code == 2
    assert run(server, "stats").exit_code == 2 and run(server, "export", dataset_id).exit_code == 2  # missing parts
    assert as_json(run(server, "jobs", "list", "--dataset", dataset_id, "--json"))["items"] == []
    unreachable = run(None, "datasets", "list")
    assert unreachable.exit_code == 3 and "cannot reach http://127.0.0.1:1" in unreachable.stderr

    run(server, "seeds", "add", dataset_id, str(write_seed(tmp_path)))
    snapshot = as_json(run(server, "snapshot", "create", dataset_id, "--json"))
    assert run(server, "snapshot", "pull", snapshot["id"], "-o", str(tmp_path / "first")).exit_code == 0
    assert run(server, "snapshot", "pull", snapshot["id"], "-o", str(tmp_path / "first")).exit_code == 2  # not empty
    stored = server.log.parent / "data" / "snapshots" / snapshot["id"] / "train.jsonl"
    stored.write_bytes(stored.read_bytes().replace(b"ocean", b"OCEAN"))
    tampered = run(server, "snapshot", "pull", snapshot["id"], "-o", str(tmp_path / "second"))
    assert tampered.exit_code == 5 and "train.jsonl" in tampered.stderr and not (tmp_path / "second").exists()


def write_seed(folder: Path) -> Path:
    path = folder / "one.jsonl"
    path.write_text('{"instruction": "Describe the colour of the ocean at dawn.", "output": "Pale grey-blue."}\n')
    return path


def test_jobs_watch_follows_a_real_job_to_the_end(server: Server, seed_file: Path, tmp_path: Path) -> None:
    dataset_id = run(server, "datasets", "create", "watched", "-q").stdout.strip()
    run(server, "seeds", "add", dataset_id, str(seed_file))
    spec = tmp_path / "job.json"
    spec.write_text(json.dumps({"config": {"prompts_per_round": 1, "max_rounds_without_accept": 3}}))
    job = as_json(run(server, "jobs", "create", dataset_id, "--target", "4", "--spec", str(spec), "--seed", "7",
                      "--json"))  # fmt: skip
    assert (job["status"], job["target"], job["params"]["seed"]) == ("queued", 4, 7)

    recording = Console(record=True, file=io.StringIO(), force_terminal=True, width=100, color_system="truecolor")
    with Client(server.url) as client:
        final = watch_job(client, job["id"], recording, poll_s=0.2)
    assert (final.status, final.accepted) == ("succeeded", 4), final
    capture = recording.export_text(clear=False)  # the SVG below needs the same record
    assert "acceptance funnel" in capture and "4/4 accepted (100%)" in capture and "tokens/s" in capture
    assert "rejected: too_short" in capture and "succeeded" in capture
    frames = [frame for frame in re.split(rf"(?={job['id']}  )", capture) if frame.strip()]
    frames = [frame for i, frame in enumerate(frames) if i == 0 or frame != frames[i - 1]]  # the final redraw
    assert len(frames) >= 3 and "0/4 accepted" in frames[0] and "4/4 accepted" in frames[-1]  # it moved, live
    keep_capture(tmp_path, frames, recording.export_svg(title="instructforge jobs watch"))

    # The same job again through the command: it ended, so watch prints its end state and exits 0.
    watched = run(server, "jobs", "watch", job["id"])
    assert watched.exit_code == 0 and "4/4 accepted" in watched.stdout
    lines = [json.loads(line) for line in run(server, "jobs", "watch", job["id"], "--json").stdout.splitlines()]
    assert lines[-1]["status"] == "succeeded" and lines[-1]["accepted"] == 4
    shown = run(server, "jobs", "show", job["id"])
    assert shown.exit_code == 0 and "candidates" in shown.stdout
    assert job["id"] in run(server, "jobs", "list").stdout


def keep_capture(tmp_path: Path, frames: list[str], svg: str) -> None:
    """The capture (each frame the live view drew, in order; the SVG has them as the terminal showed them)
    lands in the test's tmp dir and is copied to tests/artifacts/cli/ (gitignored)."""
    text = "".join(f"--- frame {i} of {len(frames)} ---\n{frame.rstrip()}\n" for i, frame in enumerate(frames, 1))
    (tmp_path / "jobs-watch.txt").write_text(text)
    (tmp_path / "jobs-watch.svg").write_text(svg)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for name in ("jobs-watch.txt", "jobs-watch.svg"):
        shutil.copyfile(tmp_path / name, ARTIFACTS / name)


def test_jobs_watch_exits_4_when_the_job_is_cancelled(server: Server) -> None:
    dataset_id = run(server, "datasets", "create", "cancelled", "-q").stdout.strip()
    run(server, "seeds", "add", dataset_id, str(write_seed_dir(server)))
    job_id = run(server, "jobs", "create", dataset_id, "--target", "50", "-q").stdout.strip()
    cancel = threading.Timer(1.0, lambda: httpx.post(f"{server.url}/v1/jobs/{job_id}/cancel", timeout=30))
    cancel.start()
    try:
        watched = run(server, "jobs", "watch", job_id, "--poll", "0.2")
    finally:
        cancel.join()
    assert watched.exit_code == 4 and f"job {job_id} cancelled" in watched.stderr
    assert run(server, "jobs", "cancel", job_id).exit_code == 1  # finished already: the service's 409


def write_seed_dir(server: Server) -> Path:
    return write_seed(server.log.parent)
