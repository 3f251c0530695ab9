"""The typed client (service.client) against a real `instructforge serve` process, and its edges through
httpx.MockTransport (canned event streams, tampered downloads) where a real server cannot be made to misbehave.

The server's engine is remote and never answers (127.0.0.1:9), so jobs stay queued: enough for create, list,
cancel and wait. A seeds-only dataset can be snapshotted and pulled.
"""

from __future__ import annotations

import hashlib
import json
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import msgspec
import pytest

from domain.job_spec import JobSpec
from service.client import APIError, Client, IntegrityError, UnreachableError
from service.schemas import JobOut
from store.snapshots.snapshot import SnapshotSpec
from tests.service.servers import Server, free_port

pytestmark = pytest.mark.server
QUEUEING_ENGINE = {"INSTRUCTFORGE_ENGINE": "remote", "INSTRUCTFORGE_ENDPOINTS": "http://127.0.0.1:9",
                   "INSTRUCTFORGE_ENGINE_START_TIMEOUT_S": "600"}  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("client") / "data", free_port(), QUEUEING_ENGINE)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop()
        running.stop(signal.SIGKILL)


@pytest.fixture
def client(server: Server) -> Iterator[Client]:
    with Client(server.url) as c:
        yield c


def unique(name: str) -> str:
    return f"{name}-{time.monotonic_ns()}"


def test_datasets_seeds_stats_and_export(client: Client, server: Server, seed_file: Path, tmp_path: Path) -> None:
    created = client.datasets.create(unique("seeds"), "the paper's 175")
    assert client.datasets.get(created.id) == created
    assert created.id in {d.id for d in client.datasets.iter()}
    assert client.datasets.resolve(created.name) == created  # by name, as the CLI takes it
    report = client.seeds.upload(created.id, seed_file)
    assert (report.received, report.added, report.duplicates_skipped) == (175, 175, 0)
    stats = client.stats(created.id)
    assert (stats.tasks, stats.by_source) == (175, {"seed": 175}) and stats.balance is not None
    exported = client.export(created.id, tmp_path / "out" / "messages.jsonl", "messages")
    direct = httpx.get(f"{server.url}/v1/datasets/{created.id}/export", params={"format": "messages"}).content
    assert Path(exported.path).read_bytes() == direct  # the same bytes as the endpoint, streamed to the file
    assert exported.lines == stats.instances and exported.bytes == len(direct)
    seeds_only = client.export(created.id, tmp_path / "seed.jsonl", source="seed", classification=True)
    assert 0 < seeds_only.lines < exported.lines
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["messages.jsonl", "out", "seed.jsonl"]  # no partials


def test_errors_carry_the_services_body(client: Client, tmp_path: Path) -> None:
    with pytest.raises(APIError) as missing:
        client.datasets.get("ds_missing")
    assert (missing.value.status_code, missing.value.code) == (404, "dataset_not_found") and missing.value.detail
    name = unique("taken")
    client.datasets.create(name)
    with pytest.raises(APIError) as taken:
        client.datasets.create(name)
    assert taken.value.status_code == 409 and taken.value.body()["code"] == taken.value.code
    with pytest.raises(APIError) as bad:
        client.datasets.create("no spaces allowed!")
    assert (bad.value.status_code, bad.value.code) == (400, "invalid_request")
    with pytest.raises(APIError):
        client.export("ds_missing", tmp_path / "never.jsonl")
    assert list(tmp_path.iterdir()) == []  # an export that failed leaves nothing behind
    with Client(f"http://127.0.0.1:{free_port()}") as nobody, pytest.raises(UnreachableError):
        nobody.datasets.list()


class Recording(httpx.HTTPTransport):
    """A real transport that notes each request's path."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.paths.append(request.url.path)
        return super().handle_request(request)


def test_jobs_create_list_cancel_and_wait(client: Client, server: Server) -> None:
    dataset = client.datasets.create(unique("jobs"))
    spec = JobSpec(dataset_id=dataset.id, target=5, seed=3)
    job = client.jobs.create(spec, idempotency_key=f"key-{dataset.id}")
    assert (job.status, job.target, job.params.seed) == ("queued", 5, 3)
    assert client.jobs.create(spec, idempotency_key=f"key-{dataset.id}").id == job.id  # a retry starts nothing
    assert [j.id for j in client.jobs.list(dataset_id=dataset.id).items] == [job.id]
    seen: list[str] = []
    cancel = threading.Timer(1.0, client.jobs.cancel, args=(job.id,))  # a queued job is cancelled at once
    cancel.start()
    recording = Recording()
    try:
        with Client(server.url, transport=recording) as following:
            final = following.jobs.wait(job.id, on_update=lambda j: seen.append(j.status), poll_s=0.2, timeout_s=30)
    finally:
        cancel.join()
    assert (final.status, final.stop_reason) == ("cancelled", "cancelled")
    assert seen[0] == "queued" and seen[-1] == "cancelled"
    assert recording.paths[0] == f"/v1/jobs/{job.id}/events"  # the service's events, not polling
    with pytest.raises(APIError) as finished:
        client.jobs.cancel(job.id)
    assert (finished.value.status_code, finished.value.code) == (409, "job_finished")
    with pytest.raises(APIError) as unknown:
        client.jobs.wait("job_missing", timeout_s=5)
    assert unknown.value.code == "job_not_found"


def test_api_keys_from_the_argument_or_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keyed = Server(tmp_path / "data", free_port(), {"INSTRUCTFORGE_API_KEYS": "k-123"})
    try:
        keyed.wait_ready()
        monkeypatch.delenv("INSTRUCTFORGE_API_KEY", raising=False)
        with Client(keyed.url) as anonymous, pytest.raises(APIError) as refused:
            anonymous.datasets.list()
        assert (refused.value.status_code, refused.value.code) == (401, "unauthorized")
        with Client(keyed.url, api_key="k-123") as given:
            assert given.datasets.list().items == []
        monkeypatch.setenv("INSTRUCTFORGE_API_KEY", "k-123")
        monkeypatch.setenv("INSTRUCTFORGE_URL", keyed.url)
        with Client() as from_env:
            assert from_env.datasets.create("keyed").name == "keyed"
    finally:
        keyed.stop()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_seeds_only_snapshot_pulled_and_checked(client: Client, seed_file: Path, tmp_path: Path) -> None:
    dataset = client.datasets.create(unique("snap"))
    client.seeds.upload(dataset.id, seed_file)
    snapshot = client.snapshots.create(dataset.id, SnapshotSpec(format="messages", seed=5))
    assert client.snapshots.get(snapshot.id) == snapshot
    assert [s.id for s in client.snapshots.list(dataset.id).items] == [snapshot.id]
    folder = tmp_path / "pulled" / "snap"
    result = client.snapshots.pull(snapshot.id, folder)
    names = [f.name for f in snapshot.files] + [d.name for d in snapshot.documents]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names) and result.files == [
        f.name for f in snapshot.files
    ]
    for entry in snapshot.files:
        assert sha256(folder / entry.name) == entry.sha256
    assert json.loads((folder / "manifest.json").read_bytes())["content_sha256"] == snapshot.content_sha256
    assert sum(len((folder / f.name).read_bytes().splitlines()) for f in snapshot.files) == 175
    with pytest.raises(FileExistsError):
        client.snapshots.pull(snapshot.id, folder)  # never over a folder that holds something
    empty = tmp_path / "empty"
    empty.mkdir()
    client.snapshots.pull(snapshot.id, empty)  # an empty folder is filled
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "pulled"]  # no partial folder left


def test_pull_refuses_a_file_corrupted_on_the_server(client: Client, server: Server, tmp_path: Path) -> None:
    dataset = client.datasets.create(unique("corrupt"))
    client.seeds.upload(dataset.id, b'{"instruction": "Name three primary colours.", "output": "Red, blue, yellow."}\n')
    snapshot = client.snapshots.create(dataset.id, SnapshotSpec(validation_fraction=0))
    stored = server.log.parent / "data" / "snapshots" / snapshot.id / "train.jsonl"  # the service's own copy
    original = stored.read_bytes()
    stored.write_bytes(original.replace(b"Red", b"Rad"))  # same size, other bytes
    with pytest.raises(IntegrityError) as mismatch:
        client.snapshots.pull(snapshot.id, tmp_path / "pulled")
    assert mismatch.value.name == "train.jsonl" and snapshot.files[0].sha256 in mismatch.value.expected
    assert list(tmp_path.iterdir()) == []  # nothing kept, no partial folder


def proxy(server: Server, rewrite) -> httpx.MockTransport:
    """The real server behind a transport that may rewrite an answer on the way."""
    real = httpx.Client(base_url=server.url)

    def handle(request: httpx.Request) -> httpx.Response:
        answer = real.request(request.method, request.url.path, params=request.url.params, content=request.content,
                              headers={k: v for k, v in request.headers.items() if k != "host"})  # fmt: skip
        content = rewrite(request.url.path, answer.content)
        headers = {k: v for k, v in answer.headers.items() if k not in ("content-length", "content-encoding")}
        return httpx.Response(answer.status_code, headers=headers, content=content)

    transport = httpx.MockTransport(handle)
    transport.real = real  # closed by the test
    return transport


@pytest.mark.parametrize("tampered", ["train.jsonl", "manifest.json"])
def test_pull_refuses_an_answer_tampered_on_the_way(
    client: Client, server: Server, seed_file: Path, tmp_path: Path, tampered: str
) -> None:
    dataset = client.datasets.create(unique("tamper"))
    client.seeds.upload(dataset.id, seed_file)
    snapshot = client.snapshots.create(dataset.id)

    def rewrite(path: str, content: bytes) -> bytes:
        if not path.endswith(f"/files/{tampered}"):
            return content
        if tampered == "manifest.json":  # a manifest that names another hash than the answer
            manifest = json.loads(content)
            manifest["files"]["train.jsonl"]["sha256"] = "0" * 64
            return json.dumps(manifest).encode()
        return content.replace(b"e", b"E", 1)

    transport = proxy(server, rewrite)
    try:
        with Client(server.url, transport=transport) as through, pytest.raises(IntegrityError) as mismatch:
            through.snapshots.pull(snapshot.id, tmp_path / "pulled")
    finally:
        transport.real.close()
    assert mismatch.value.name == tampered
    assert list(tmp_path.iterdir()) == []


def test_pull_refuses_a_file_name_that_leaves_the_folder(client: Client, seed_file: Path, tmp_path: Path) -> None:
    dataset = client.datasets.create(unique("names"))
    client.seeds.upload(dataset.id, seed_file)
    real = msgspec.to_builtins(client.snapshots.create(dataset.id))
    real["documents"][0]["name"] = "../escaped.json"
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=real))
    with Client("http://service", transport=transport) as hostile, pytest.raises(IntegrityError):
        hostile.snapshots.pull(real["id"], tmp_path / "pulled")
    assert list(tmp_path.iterdir()) == []


# ---- following a job: the events contract, through canned streams ----


def job_json(status: str, accepted: int = 0, rounds: int = 0) -> dict:
    spec = msgspec.to_builtins(JobSpec(dataset_id="ds_x", target=4))
    stamp = "2026-01-01T00:00:00Z"
    return {"id": "job_x", "dataset_id": "ds_x", "method": "self_instruct", "status": status, "target": 4,
            "accepted": accepted, "progress": {"rounds": rounds, "stages": {"candidates": 2 * rounds}},
            "rejections_by_reason": {}, "stop_reason": None, "error": None, "params": spec, "created_at": stamp,
            "started_at": None, "finished_at": None, "updated_at": stamp}  # fmt: skip


def sse(*events: tuple[str, int, dict]) -> bytes:
    lines = [": keep-alive\n\n"]
    for name, number, body in events:
        lines.append(f"event: {name}\nid: {number}\ndata: {json.dumps(body)}\n\n")
        lines.append(": keep-alive\n\n")
    return "".join(lines).encode()


def events_response(body: bytes) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body)


def test_wait_follows_the_jobs_events() -> None:
    requests: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        requests.append(request.url.path)
        assert request.headers["accept"] == "text/event-stream"
        return events_response(
            sse(
                ("status", 1, job_json("queued")),
                ("progress", 2, job_json("running", 1, 1)),
                ("progress", 3, job_json("running", 3, 2)),
                ("end", 4, job_json("succeeded", 4, 3)),
            )
        )

    seen: list[JobOut] = []
    with Client("http://service", transport=httpx.MockTransport(handle)) as client:
        final = client.jobs.wait("job_x", on_update=seen.append)
    assert [(j.status, j.accepted) for j in seen] == [("queued", 0), ("running", 1), ("running", 3), ("succeeded", 4)]
    assert final == seen[-1] and requests == ["/v1/jobs/job_x/events"]  # no polling needed


def test_wait_reconnects_after_a_stream_that_closed_early() -> None:
    calls: list[tuple[str, str | None]] = []

    def handle(request: httpx.Request) -> httpx.Response:
        calls.append((request.url.path, request.headers.get("last-event-id")))
        if request.url.path.endswith("/events"):
            if len(calls) == 1:  # the first stream breaks off after two events
                return events_response(sse(("status", 1, job_json("queued")), ("progress", 2, job_json("running", 1))))
            return events_response(sse(("end", 5, job_json("succeeded", 4, 3))))
        return httpx.Response(200, json=job_json("running", 2, 2))

    with Client("http://service", transport=httpx.MockTransport(handle)) as client:
        final = client.jobs.wait("job_x", poll_s=0)
    assert final.status == "succeeded"
    assert calls == [("/v1/jobs/job_x/events", None), ("/v1/jobs/job_x", None), ("/v1/jobs/job_x/events", "2")]


def test_wait_polls_when_the_service_has_no_events_endpoint() -> None:
    states = iter([job_json("queued"), job_json("running", 1, 1), job_json("running", 1, 1), job_json("failed", 1, 2)])
    paths: list[str] = []

    def handle(request: httpx.Request) -> httpx.Response:
        paths.append(request.url.path)
        if request.url.path.endswith("/events"):  # a route this service does not have
            return httpx.Response(
                404, json={"status_code": 404, "code": "not_found", "detail": "Not Found", "extra": {}}
            )
        return httpx.Response(200, json=next(states))

    seen: list[str] = []
    with Client("http://service", transport=httpx.MockTransport(handle)) as client:
        final = client.jobs.wait("job_x", on_update=lambda j: seen.append(j.status), poll_s=0)
    assert final.status == "failed" and seen == ["queued", "running", "failed"]  # an unchanged state is not repeated
    assert paths == ["/v1/jobs/job_x/events"] + ["/v1/jobs/job_x"] * 4


def test_create_sends_the_idempotency_key_and_the_api_key() -> None:
    seen: list[httpx.Request] = []

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json=job_json("queued"))

    with Client("http://service", api_key="sk-1", transport=httpx.MockTransport(handle)) as client:
        client.jobs.create(JobSpec(dataset_id="ds_x", target=4), idempotency_key="retry-7")
        client.jobs.create(JobSpec(dataset_id="ds_x", target=4))
    assert seen[0].headers["idempotency-key"] == "retry-7" and "idempotency-key" not in seen[1].headers
    assert all(r.headers["authorization"] == "Bearer sk-1" for r in seen)
    assert msgspec.json.decode(seen[0].content, type=JobSpec) == JobSpec(dataset_id="ds_x", target=4)


def test_an_error_body_that_is_not_the_services_still_raises_an_api_error() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(502, text="<html>Bad Gateway</html>"))
    with Client("http://service", transport=transport) as client, pytest.raises(APIError) as error:
        client.datasets.list()
    assert (error.value.status_code, error.value.code) == (502, "http_502") and "Bad Gateway" in error.value.detail


def test_an_answer_the_client_cannot_read_is_an_api_error_not_a_crash() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json={"items": "not a list"}))
    with Client("http://service", transport=transport) as client, pytest.raises(APIError) as error:
        client.datasets.list()
    assert (error.value.status_code, error.value.code) == (200, "unexpected_answer")
