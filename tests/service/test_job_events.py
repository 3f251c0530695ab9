"""`GET /v1/jobs/{id}/events`: server-sent events of a job, over a real server and in process."""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx
import msgspec
import pytest
from litestar.testing import TestClient

from domain.job_spec import JobProgress, JobSpec
from service.app import create_app
from service.events import event_kind, job_events
from service.schemas import JobOut
from service.settings import EngineSettings, Settings
from tests.service.conftest import assert_error

NEVER_ANSWERS = "http://127.0.0.1:9"  # a remote engine that never starts: jobs stay queued


def parse_events(lines: Iterator[str]) -> Iterator[dict[str, str]]:
    """Server-sent events as dicts of their fields; comments under the key ':'."""
    event: dict[str, str] = {}
    for line in lines:
        if line == "":
            if event:
                yield event
            event = {}
            continue
        name, _, value = line.partition(":")
        event[name or ":"] = value.removeprefix(" ")


@pytest.fixture
def queued_app(settings: Settings) -> Iterator[TestClient]:
    remote = EngineSettings(kind="remote", endpoints=(NEVER_ANSWERS,), default_dataset=False)
    with TestClient(app=create_app(msgspec.structs.replace(settings, engine=remote))) as client:
        yield client


def queue_job(client: TestClient | httpx.Client) -> str:
    dataset_id = client.post("/v1/datasets", json={"name": "d"}).json()["id"]
    created = client.post("/v1/jobs", json={"dataset_id": dataset_id, "target": 5})
    assert created.status_code == 202, created.text
    return created.json()["id"]


@pytest.mark.server
def test_a_job_cancelled_while_queued_streams_status_then_end(start) -> None:
    server = start(INSTRUCTFORGE_ENGINE="remote", INSTRUCTFORGE_ENDPOINTS=NEVER_ANSWERS)
    with httpx.Client(base_url=server.url, timeout=10) as client:
        job_id = queue_job(client)
        with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = parse_events(stream.iter_lines())
            first = next(events)
            assert (first["event"], first["id"]) == ("status", "1")
            as_read = msgspec.json.decode(client.get(f"/v1/jobs/{job_id}").content, type=JobOut)
            assert msgspec.json.decode(first["data"], type=JobOut) == as_read  # the same body as GET
            assert as_read.status == "queued"
            assert client.post(f"/v1/jobs/{job_id}/cancel").status_code == 202
            end = next(events)
            assert (end["event"], end["id"]) == ("end", "2")
            ended = msgspec.json.decode(end["data"], type=JobOut)
            assert (ended.status, ended.stop_reason) == ("cancelled", "cancelled")
            assert list(events) == []  # the stream closed after the end
        assert ended == msgspec.json.decode(client.get(f"/v1/jobs/{job_id}").content, type=JobOut)


def test_a_finished_job_streams_one_end(queued_app: TestClient) -> None:
    job_id = queue_job(queued_app)
    queued_app.post(f"/v1/jobs/{job_id}/cancel")
    response = queued_app.get(f"/v1/jobs/{job_id}/events")  # the test client reads until the stream closes
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/event-stream")
    [end] = parse_events(iter(response.text.splitlines()))
    assert (end["event"], end["id"]) == ("end", "1")
    assert msgspec.json.decode(end["data"], type=JobOut) == msgspec.json.decode(
        queued_app.get(f"/v1/jobs/{job_id}").content, type=JobOut
    )


def test_an_unknown_job_is_a_404(client: TestClient) -> None:
    assert_error(client.get("/v1/jobs/job_missing/events"), 404, "job_not_found")


def _http_scope(path: str) -> dict:
    return {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(b"host", b"testserver")], "client": ("127.0.0.1", 5000), "server": ("testserver", 80),
    }  # fmt: skip


def test_the_stream_stops_when_the_client_goes_away(queued_app: TestClient) -> None:
    """The app's own ASGI call: after the first event the client disconnects, and the handler returns."""
    job_id = queue_job(queued_app)
    app = queued_app.app

    async def open_and_leave() -> list[bytes]:
        bodies: list[bytes] = []
        first_event = anyio.Event()
        requested = False

        async def receive() -> dict:
            nonlocal requested
            if not requested:
                requested = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await first_event.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                bodies.append(message["body"])
                first_event.set()

        with anyio.fail_after(10):  # a poll that went on would never return
            await app(_http_scope(f"/v1/jobs/{job_id}/events"), receive, send)
        return bodies

    bodies = queued_app.blocking_portal.call(open_and_leave)
    [first] = parse_events(iter(b"".join(bodies).decode().splitlines()))
    assert first["event"] == "status" and msgspec.json.decode(first["data"], type=JobOut).id == job_id


def _job(status: str = "queued", accepted: int = 0, rounds: int = 0) -> JobOut:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 6, tzinfo=UTC)
    return JobOut(
        id="job_1", dataset_id="ds_1", method="self_instruct", status=status, target=5, accepted=accepted,
        progress=JobProgress(rounds=rounds), rejections_by_reason={}, stop_reason=None, error=None,
        params=JobSpec(dataset_id="ds_1", target=5), created_at=now, started_at=None, finished_at=None,
        updated_at=now,
    )  # fmt: skip


def test_which_event_each_change_is() -> None:
    queued, running = _job(), _job("running")
    assert event_kind(None, queued) == "status"
    assert event_kind(queued, queued) is None
    assert event_kind(queued, running) == "status"
    assert event_kind(running, _job("running", rounds=1)) == "progress"
    assert event_kind(running, _job("running", accepted=2, rounds=1)) == "progress"
    assert event_kind(None, _job("succeeded")) == "end"
    assert event_kind(running, _job("failed")) == "end"


def test_an_idle_stream_sends_keep_alives_and_stops_reading_when_closed() -> None:
    reads = 0

    def read() -> JobOut:
        nonlocal reads
        reads += 1
        return _job("running")

    async def run() -> tuple[list, int]:
        events = job_events(read, poll_s=0.01, keepalive_s=0.05)
        got = [await anext(events) for _ in range(3)]
        await events.aclose()
        after_close = reads
        await anyio.sleep(0.1)
        return got, reads - after_close

    got, reads_after_close = anyio.run(run)
    assert [(m.event, m.id, m.comment) for m in got] == [
        ("status", 1, None), (None, None, "keep-alive"), (None, None, "keep-alive"),
    ]  # fmt: skip
    assert got[1].encode() == b": keep-alive\r\n\r\n"  # a comment line only: no event reaches the client
    assert reads_after_close == 0


@pytest.mark.server
def test_a_stop_does_not_wait_for_open_streams(start) -> None:
    """SIGTERM with a client on a queued job's events: the server cuts the stream after its grace and exits."""
    import signal
    import threading
    import time

    from service.cli import SHUTDOWN_GRACE_S

    server = start(INSTRUCTFORGE_ENGINE="remote", INSTRUCTFORGE_ENDPOINTS=NEVER_ANSWERS)
    with httpx.Client(base_url=server.url, timeout=30) as client:
        job_id = queue_job(client)
        opened, outcome = threading.Event(), []

        def listen() -> None:
            try:
                with client.stream("GET", f"/v1/jobs/{job_id}/events") as stream:
                    for _line in stream.iter_lines():
                        opened.set()
                outcome.append("closed")
            except httpx.HTTPError as exc:
                outcome.append(type(exc).__name__)

        listener = threading.Thread(target=listen)
        listener.start()
        try:
            assert opened.wait(10)
            began = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            server.process.wait(timeout=SHUTDOWN_GRACE_S + 10)
            assert time.monotonic() - began < SHUTDOWN_GRACE_S + 10
        finally:
            listener.join(timeout=20)
    assert outcome and not listener.is_alive()
